# Sourced by the other scripts: where Nexus keeps the tools it installs.
# NEXUS_TOOLS (default ~/.cache/nexus) outlives a clone, so a second run reuses what the first one built.
export NEXUS_TOOLS="${NEXUS_TOOLS:-$HOME/.cache/nexus}"
export NEXUS_BIN="$NEXUS_TOOLS/bin"
mkdir -p "$NEXUS_BIN"
case ":$PATH:" in *":$NEXUS_BIN:"*) ;; *) export PATH="$NEXUS_BIN:$PATH" ;; esac
NEXUS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export NEXUS_ROOT
