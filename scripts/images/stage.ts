/**
 * Stages the build context of one image (scripts/images.sh build COMPONENT): the files of COMPONENT/main.ts's module
 * graph (no tests), deno.json with only the imports that graph uses, deno.lock, and node_modules installed here on
 * the host, so `docker build` downloads nothing (builds stay hermetic, and run with --network none).
 *
 *   deno run -A scripts/images/stage.ts COMPONENT OUT_DIR
 *
 * Fails when the staged lockfile pins any package differently from the repository's deno.lock.
 */
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

interface InfoModule {
  specifier: string;
  local?: string;
  dependencies?: { specifier: string }[];
}

interface Info {
  modules: InfoModule[];
  redirects: Record<string, string>;
}

interface Lock {
  specifiers?: Record<string, string>;
  npm?: Record<string, { integrity?: string }>;
}

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const deno = Deno.execPath();

/** Runs deno with args in cwd and returns its stdout; throws with its stderr when it fails. */
async function run(args: string[], cwd: string): Promise<string> {
  const out = await new Deno.Command(deno, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  if (!out.success) throw new Error(`deno ${args.join(" ")} failed:\n${text(out.stderr)}`);
  return text(out.stdout);
}

/** The repository files and the import-map keys that COMPONENT/main.ts reaches. */
async function moduleGraph(component: string): Promise<{ files: string[]; imports: Set<string> }> {
  const info: Info = JSON.parse(await run(["info", "--json", `${component}/main.ts`], repoRoot));
  const files = info.modules.filter((m) => m.specifier.startsWith("file:")).map((m) => relative(repoRoot, m.local!));
  const outside = files.filter((f) => f.startsWith(".."));
  if (outside.length) throw new Error(`${component} imports files outside the repository: ${outside.join(", ")}`);
  const bare = new Set(
    info.modules.flatMap((m) => (m.dependencies ?? []).map((d) => d.specifier)).filter((s) =>
      !/^(\.|\/|[a-z]+:)/.test(s)
    ),
  );
  return { files, imports: bare };
}

/** Keeps the import-map entries a bare specifier of the graph resolves through ("zod", or "zod/" for "zod/mini"). */
function usedImports(imports: Record<string, string>, bare: Set<string>): Record<string, string> {
  const used = Object.entries(imports).filter(([key]) =>
    key.endsWith("/") ? [...bare].some((s) => s.startsWith(key)) : bare.has(key)
  );
  return Object.fromEntries(used);
}

/** Throws when the staged lock pins a package the repository's lock does not pin the same way. */
function assertSubset(staged: Lock, original: Lock): void {
  for (const [name, entry] of Object.entries(staged.npm ?? {})) {
    const pinned = original.npm?.[name];
    if (!pinned || pinned.integrity !== entry.integrity) {
      throw new Error(`staged deno.lock pins npm ${name}, which the repository's deno.lock does not`);
    }
  }
  for (const [specifier, version] of Object.entries(staged.specifiers ?? {})) {
    if (original.specifiers?.[specifier] !== version) {
      throw new Error(`staged deno.lock resolves ${specifier} to ${version}, the repository's lock does not`);
    }
  }
}

async function main([component, out]: string[]): Promise<void> {
  if (!component || !out) throw new Error("usage: stage.ts COMPONENT OUT_DIR");
  const { files, imports } = await moduleGraph(component);
  const config = JSON.parse(await Deno.readTextFile(join(repoRoot, "deno.json")));
  const original: Lock = JSON.parse(await Deno.readTextFile(join(repoRoot, "deno.lock")));

  await Deno.mkdir(out, { recursive: true });
  for (const file of files) {
    await Deno.mkdir(join(out, dirname(file)), { recursive: true });
    await Deno.copyFile(join(repoRoot, file), join(out, file));
  }
  const { tasks: _tasks, fmt: _fmt, lint: _lint, ...runtime } = config;
  const staged = { ...runtime, imports: usedImports(config.imports ?? {}, imports) };
  await Deno.writeTextFile(join(out, "deno.json"), JSON.stringify(staged, null, 2) + "\n");
  await Deno.copyFile(join(repoRoot, "deno.lock"), join(out, "deno.lock"));
  await Deno.copyFile(join(repoRoot, component, "Dockerfile"), join(out, "Dockerfile"));
  // The lock loses the entries the component does not use; what stays must be pinned exactly as in the repository.
  await run(["install", "--quiet", "--entrypoint", `${component}/main.ts`], out);
  assertSubset(JSON.parse(await Deno.readTextFile(join(out, "deno.lock"))), original);
  console.log(`staged ${component}: ${files.length} files, npm ${Object.keys(staged.imports).join(", ")}`);
}

if (import.meta.main) await main(Deno.args);
