{{/* Chart name, truncated to 63 characters. */}}
{{- define "nexus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name: <release>-<chart>, or the release alone when it already holds the chart name. */}}
{{- define "nexus.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of one component's objects: <fullname>-<suffix>, truncated to 63. Call with (list $ "suffix"). */}}
{{- define "nexus.componentName" -}}
{{- $ctx := index . 0 -}}
{{- printf "%s-%s" (include "nexus.fullname" $ctx) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "nexus.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of a component: name, instance, component only. Call with (dict "ctx" $ "component" "gateway"). */}}
{{- define "nexus.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nexus.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every label of a component's objects. Call with (dict "ctx" $ "component" "gateway" "role" "gateway"). */}}
{{- define "nexus.labels" -}}
{{ include "nexus.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: nexus
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ include "nexus.chart" .ctx }}
nexus.io/role: {{ default .component .role }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Pod securityContext: RuntimeDefault seccomp and, with a uid, non-root as that uid; then the component's overrides
(a null removes the chart's key). Call with (dict "uid" 1993 "over" .podSecurityContext); uid 0: the image's user.
*/}}
{{- define "nexus.podSecurityContext" -}}
{{- $base := dict "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- if .uid -}}
{{- $_ := merge $base (dict "runAsNonRoot" true "runAsUser" (int .uid) "runAsGroup" (int .uid) "fsGroup" (int .uid)) -}}
{{- end -}}
{{- include "nexus.overlay" (dict "into" $base "over" .over) -}}
{{- toYaml $base -}}
{{- end -}}

{{/*
Container securityContext: no privilege escalation, no capabilities, read-only root unless writableRoot; then the
component's overrides (a null removes the chart's key). Call with (dict "writableRoot" false "over" .securityContext).
*/}}
{{- define "nexus.containerSecurityContext" -}}
{{- $base := dict "allowPrivilegeEscalation" false "readOnlyRootFilesystem" (not .writableRoot) "privileged" false "capabilities" (dict "drop" (list "ALL")) -}}
{{- include "nexus.overlay" (dict "into" $base "over" .over) -}}
{{- toYaml $base -}}
{{- end -}}

{{/* Sets each key of .over into the map .into, recursing into maps; a null in .over removes the key. */}}
{{- define "nexus.overlay" -}}
{{- $into := .into -}}
{{- range $key, $value := default dict .over -}}
{{- if kindIs "invalid" $value -}}
{{- $_ := unset $into $key -}}
{{- else if and (kindIs "map" $value) (kindIs "map" (get $into $key)) -}}
{{- include "nexus.overlay" (dict "into" (get $into $key) "over" $value) -}}
{{- else -}}
{{- $_ := set $into $key (deepCopy $value) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Fills the keys .into lacks from the map .from, recursing into maps both have (Helm's merge of chart defaults). */}}
{{- define "nexus.fillDefaults" -}}
{{- $into := .into -}}
{{- range $key, $default := .from -}}
{{- if not (hasKey $into $key) -}}
{{- $_ := set $into $key (deepCopy $default) -}}
{{- else if and (kindIs "map" $default) (kindIs "map" (get $into $key)) -}}
{{- include "nexus.fillDefaults" (dict "into" (get $into $key) "from" $default) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Image reference: repository:tag, or repository@digest when a digest is given; an empty tag means the chart's
appVersion. global.imageRegistry replaces the repository's registry host (Docker Hub's when it names none, whose
single-name images live under library/). Call with (list $ (dict "repository" .. "tag" .. "digest" ..)).
*/}}
{{- define "nexus.image" -}}
{{- $ctx := index . 0 -}}
{{- $image := index . 1 -}}
{{- $repository := $image.repository -}}
{{- with $ctx.Values.global.imageRegistry -}}
{{- $parts := splitList "/" $repository -}}
{{- $host := first $parts -}}
{{- if and (gt (len $parts) 1) (or (contains "." $host) (contains ":" $host) (eq $host "localhost")) -}}
{{- $parts = rest $parts -}}
{{- end -}}
{{- if eq (len $parts) 1 }}{{ $parts = prepend $parts "library" }}{{ end -}}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) (join "/" $parts) -}}
{{- end -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (default $ctx.Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* A component's podLabels, refused where they would replace the chart's own. Call with (dict "labels" .. "path" ..). */}}
{{- define "nexus.podLabels" -}}
{{- range $key, $_ := .labels -}}
{{- if or (hasPrefix "app.kubernetes.io/" $key) (hasPrefix "nexus.io/" $key) (eq $key "helm.sh/chart") -}}
{{- fail (printf "%s.%s: the chart sets this label itself (selectors and NetworkPolicies use it); pick another key" $.path $key) -}}
{{- end -}}
{{- end -}}
{{- with .labels }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/*
topologySpreadConstraints; a constraint without labelSelector counts the pods matching .selector (the component's
selector labels). Call with (dict "constraints" .. "selector" (dict ...)).
*/}}
{{- define "nexus.topologySpread" -}}
{{- $out := list -}}
{{- range .constraints -}}
{{- $c := deepCopy . -}}
{{- if not (hasKey $c "labelSelector") }}{{ $_ := set $c "labelSelector" (dict "matchLabels" $.selector) }}{{ end -}}
{{- $out = append $out $c -}}
{{- end -}}
{{- with $out }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* A component's selector labels as a dict. Call with (dict "ctx" $ "component" "gateway"). */}}
{{- define "nexus.selectorLabelsJson" -}}
{{- include "nexus.selectorLabels" . | fromYaml | toJson -}}
{{- end -}}

{{/* extraEnv, refused where it names a variable the chart sets. Call with (dict "env" .. "managed" (list ..) "path" ..). */}}
{{- define "nexus.extraEnv" -}}
{{- range .env -}}
{{- if has .name $.managed -}}
{{- fail (printf "%s: %s is set by the chart (see the values that control it); remove it from %s" $.path .name $.path) -}}
{{- end -}}
{{- end -}}
{{- with .env }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* extraVolumes, refused where a name repeats one of the chart's volumes. Call with (dict "volumes" .. "reserved" (list ..) "path" ..). */}}
{{- define "nexus.extraVolumes" -}}
{{- range .volumes -}}
{{- if has .name $.reserved -}}
{{- fail (printf "%s: the volume name %q is the chart's own (%s); pick another" $.path .name (join ", " $.reserved)) -}}
{{- end -}}
{{- end -}}
{{- with .volumes }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/*
GPU pools as JSON: name -> the pool's values over files/gpu-pool-defaults.json (the generic pool's).
Fails when values written for chart 0.1.0's single gpuPool are given.
*/}}
{{- define "nexus.gpuPools" -}}
{{- if .Values.gpuPool -}}
{{- fail "gpuPool: chart 0.2.0 replaced the single GPU pool with gpuPools; move its fields to gpuPools.gpu (e.g. gpuPool.nodeSelector becomes gpuPools.gpu.nodeSelector) and remove gpuPool" -}}
{{- end -}}
{{- $defaults := .Files.Get "files/gpu-pool-defaults.json" | fromJson -}}
{{- $out := dict -}}
{{- range $name, $values := .Values.gpuPools -}}
{{- $pool := deepCopy (default dict $values) -}}
{{- include "nexus.fillDefaults" (dict "into" $pool "from" $defaults) -}}
{{- $_ := set $out $name $pool -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
Enabled workers as JSON: name -> the worker's values over files/worker-defaults.json, plus record (its backend's
entry in files/backends.json), gpu (resolved), isGpu, pool (the GPU pool's name, GPU workers only), placement
(nodeSelector, tolerations, affinity, runtimeClassName), resources and shm (pool shape with the worker's own over it),
podSecurity and containerSecurity (the security profile with the worker's overrides), objectName and url.
The workers a user names are exactly the workers; when none is named, one mock worker (workers.mock: {}).
*/}}
{{- define "nexus.workers" -}}
{{- $defaults := .Files.Get "files/worker-defaults.json" | fromJson -}}
{{- $records := .Files.Get "files/backends.json" | fromJson -}}
{{- $pools := include "nexus.gpuPools" . | fromJson -}}
{{- $out := dict -}}
{{- range $name, $values := .Values.workers | default (dict "mock" dict) -}}
{{- $w := deepCopy $values -}}
{{- include "nexus.fillDefaults" (dict "into" $w "from" $defaults) -}}
{{- if $w.enabled -}}
{{- if has $name (list "gateway" "redis" "test") -}}
{{- fail (printf "workers.%s: the name %q is reserved for the chart's own objects; pick another worker name" $name $name) -}}
{{- end -}}
{{- if and (ne $w.backend "mock") (not (hasKey $values "model")) -}}
{{- fail (printf "workers.%s.model: set the model id that backend %s serves (e.g. meta-llama/Meta-Llama-3-8B-Instruct)" $name $w.backend) -}}
{{- end -}}
{{- if kindIs "map" $w.gpuPool -}}
{{- fail (printf "workers.%s.gpuPool: since chart 0.2.0 this names a pool of gpuPools (e.g. gpuPool: h100); put per-worker placement in workers.%s.nodeSelector, .tolerations, .affinity and .runtimeClassName, or define the pool under gpuPools" $name $name) -}}
{{- end -}}
{{- $record := get $records $w.backend -}}
{{- $reservedEnv := concat (list "MODEL_ID" "HOME" "HF_HOME" "HF_TOKEN") (keys $record.env | sortAlpha) -}}
{{- if eq $record.drain.kind "env" }}{{ $reservedEnv = concat $reservedEnv (list $record.drain.delayVariable $record.drain.graceVariable) }}{{ end -}}
{{- range $key, $_ := $w.env -}}
{{- if has $key $reservedEnv -}}
{{- fail (printf "workers.%s.env.%s: the chart sets %s itself (from workers.%s.model, drainDelaySeconds, drainGraceSeconds, hfToken or the %s backend); remove it from env" $name $key $key $name $w.backend) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $w "reservedEnv" $reservedEnv -}}
{{- /* GPUs: the worker's own count, else its pool's for a GPU backend, else none. */ -}}
{{- $pool := get $pools (toString $w.gpuPool) -}}
{{- $needsPool := or (and (hasKey $w "gpu") (gt (int $w.gpu) 0)) (and (not (hasKey $w "gpu")) (gt (int $record.gpu) 0)) -}}
{{- if and $needsPool (not $pool) -}}
{{- fail (printf "workers.%s.gpuPool: no GPU pool named %q in gpuPools (known: %s)" $name (toString $w.gpuPool) (keys $pools | sortAlpha | join ", ")) -}}
{{- end -}}
{{- if not (hasKey $w "gpu") -}}
{{- $_ := set $w "gpu" 0 -}}
{{- if $needsPool }}{{ $_ := set $w "gpu" $pool.gpu }}{{ end -}}
{{- end -}}
{{- $_ := set $w "gpu" (int $w.gpu) -}}
{{- $_ := set $w "isGpu" (gt $w.gpu 0) -}}
{{- /* Placement and shape: the pool's for a GPU worker, each field the worker sets replacing the pool's. */ -}}
{{- $placement := dict -}}
{{- $resources := deepCopy $defaults.resources -}}
{{- $shm := "" -}}
{{- if $w.isGpu -}}
{{- $_ := set $w "pool" (toString $w.gpuPool) -}}
{{- $placement = pick $pool "nodeSelector" "tolerations" "affinity" "runtimeClassName" | deepCopy -}}
{{- $resources = deepCopy $pool.resources -}}
{{- $shm = $pool.shm -}}
{{- end -}}
{{- range $key := list "nodeSelector" "tolerations" "affinity" "runtimeClassName" -}}
{{- if hasKey $values $key }}{{ $_ := set $placement $key (get $values $key) }}{{ end -}}
{{- end -}}
{{- include "nexus.overlay" (dict "into" $resources "over" (default dict $values.resources)) -}}
{{- if $w.isGpu -}}
{{- $_ := set $resources "limits" (merge (dict "nvidia.com/gpu" $w.gpu) (default dict $resources.limits)) -}}
{{- end -}}
{{- $_ := set $w "placement" $placement -}}
{{- $_ := set $w "resources" $resources -}}
{{- $_ := set $w "shm" (default $shm $values.shm) -}}
{{- /* Security: restricted runs as the backend's uid on a read-only root; imageUser as the image's own user. */ -}}
{{- $restricted := eq $w.securityProfile "restricted" -}}
{{- $_ := set $w "podSecurity" (include "nexus.podSecurityContext" (dict "uid" (ternary $record.runAsUser 0 $restricted) "over" $w.podSecurityContext) | fromYaml) -}}
{{- $_ := set $w "containerSecurity" (include "nexus.containerSecurityContext" (dict "writableRoot" (not $restricted) "over" $w.securityContext) | fromYaml) -}}
{{- $_ := set $w "record" $record -}}
{{- $objectName := include "nexus.componentName" (list $ $name) -}}
{{- $_ := set $w "objectName" $objectName -}}
{{- if eq $record.workload "inferenceService" -}}
{{- range $key := list "keda" "inferencePool" -}}
{{- if (get $w $key).enabled -}}
{{- fail (printf "workers.%s.%s: a kserve worker is an InferenceService, which KServe scales and serves itself; %s is for mock, vllm and sglang workers" $name $key $key) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $w "url" (printf "http://%s-predictor.%s.svc.cluster.local%s" $objectName $.Release.Namespace $record.basePath) -}}
{{- else -}}
{{- $_ := set $w "url" (printf "http://%s:%d%s" $objectName (int $record.port) $record.basePath) -}}
{{- end -}}
{{- if and $w.keda.enabled (not $w.keda.serverAddress) -}}
{{- fail (printf "workers.%s.keda.serverAddress: set the Prometheus address KEDA queries (e.g. http://prometheus-operated.monitoring.svc:9090)" $name) -}}
{{- end -}}
{{- $_ := set $out $name $w -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Upstreams as JSON (name -> url): enabled workers plus gateway.externalUpstreams. */}}
{{- define "nexus.upstreams" -}}
{{- $out := dict -}}
{{- range $name, $w := include "nexus.workers" . | fromJson -}}
{{- $_ := set $out $name $w.url -}}
{{- end -}}
{{- range $name, $url := .Values.gateway.externalUpstreams -}}
{{- if hasKey $out $name -}}
{{- fail (printf "gateway.externalUpstreams.%s: an enabled worker already has the name %q" $name $name) -}}
{{- end -}}
{{- $_ := set $out $name $url -}}
{{- end -}}
{{- if not $out -}}
{{- fail "no upstream: enable a worker (workers.<name>.enabled) or set gateway.externalUpstreams" -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* GATEWAY_DEFAULT_UPSTREAM: gateway.defaultUpstream, checked, or the first upstream by name. */}}
{{- define "nexus.defaultUpstream" -}}
{{- $upstreams := include "nexus.upstreams" . | fromJson -}}
{{- $name := .Values.gateway.defaultUpstream -}}
{{- if and $name (not (hasKey $upstreams $name)) -}}
{{- fail (printf "gateway.defaultUpstream: %q is not an enabled worker or externalUpstream (known: %s)" $name (keys $upstreams | sortAlpha | join ", ")) -}}
{{- end -}}
{{- default (keys $upstreams | sortAlpha | first) $name -}}
{{- end -}}

{{/*
GATEWAY_ROUTE_POLICIES as JSON. Fails naming the model and the field for what the values schema cannot say (the
refinements of gateway/route_policy.ts: canary differs from primary, a weight above 0; a non-empty model name) and
for an unknown upstream.
*/}}
{{- define "nexus.routePolicies" -}}
{{- $upstreams := include "nexus.upstreams" . | fromJson -}}
{{- range $model, $policy := .Values.gateway.routePolicies -}}
{{- if eq $model "" -}}
{{- fail "gateway.routePolicies: a model name must not be empty (a request always names its model)" -}}
{{- end -}}
{{- $names := list -}}
{{- if eq $policy.strategy "canary" -}}
{{- if eq $policy.primary $policy.canary -}}
{{- fail (printf "gateway.routePolicies[%q].canary: must differ from primary (both are %q)" $model $policy.canary) -}}
{{- end -}}
{{- $names = list $policy.primary $policy.canary -}}
{{- else if eq $policy.strategy "weighted" -}}
{{- $positive := false -}}
{{- range $_, $weight := $policy.weights }}{{ if gt (float64 $weight) 0.0 }}{{ $positive = true }}{{ end }}{{ end -}}
{{- if not $positive -}}
{{- fail (printf "gateway.routePolicies[%q].weights: at least one weight must be greater than 0" $model) -}}
{{- end -}}
{{- $names = keys $policy.weights | sortAlpha -}}
{{- else -}}
{{- $names = $policy.upstreams -}}
{{- end -}}
{{- range $names -}}
{{- if not (hasKey $upstreams .) -}}
{{- fail (printf "gateway.routePolicies[%q] names upstream %q, which is not an enabled worker or externalUpstream (known: %s)" $model . (keys $upstreams | sortAlpha | join ", ")) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson .Values.gateway.routePolicies -}}
{{- end -}}

{{/*
GATEWAY_DISCOVERY: name=service:http for each Deployment worker that can run more than one replica (autoscaling, KEDA
or replicas above 1), sorted by name; empty when gateway.routing.discovery is off. The gateway then sends each request
to one of the Service's ready pods, found through its EndpointSlices.
*/}}
{{- define "nexus.discovery" -}}
{{- $entries := list -}}
{{- if .Values.gateway.routing.discovery -}}
{{- $workers := include "nexus.workers" . | fromJson -}}
{{- range $name := keys $workers | sortAlpha -}}
{{- $w := get $workers $name -}}
{{- if and (eq $w.record.workload "deployment") (or $w.autoscaling.enabled $w.keda.enabled (gt (int $w.replicas) 1)) -}}
{{- $entries = append $entries (printf "%s=%s:http" $name $w.objectName) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- join ";" $entries -}}
{{- end -}}

{{/* GATEWAY_UPSTREAMS: name=url;name=url, sorted by name. */}}
{{- define "nexus.upstreamList" -}}
{{- $upstreams := include "nexus.upstreams" . | fromJson -}}
{{- $pairs := list -}}
{{- range $name := keys $upstreams | sortAlpha -}}
{{- $pairs = append $pairs (printf "%s=%s" $name (get $upstreams $name)) -}}
{{- end -}}
{{- join ";" $pairs -}}
{{- end -}}

{{/* The variables the chart sets on the gateway, as JSON: name -> the values that control it. */}}
{{- define "nexus.gatewayManagedEnv" -}}
{{- $managed := dict
  "GATEWAY_PORT" "gateway.port"
  "GATEWAY_METRICS_PORT" "gateway.metricsPort"
  "GATEWAY_UPSTREAMS" "workers and gateway.externalUpstreams"
  "GATEWAY_DEFAULT_UPSTREAM" "gateway.defaultUpstream"
  "GATEWAY_ROUTE_POLICIES" "gateway.routePolicies"
  "GATEWAY_RATE_LIMIT_RPM" "gateway.rateLimit.rpm"
  "GATEWAY_RATE_LIMIT_TPM" "gateway.rateLimit.tpm"
  "GATEWAY_RATE_LIMIT_TOKENS_PER_DAY" "gateway.rateLimit.tokensPerDay"
  "GATEWAY_RATE_LIMIT_FAIL" "gateway.rateLimit.failMode"
  "GATEWAY_DRAIN_DELAY_SECONDS" "gateway.drainDelaySeconds"
  "GATEWAY_DRAIN_GRACE_SECONDS" "gateway.drainGraceSeconds"
  "GATEWAY_API_KEYS" "gateway.apiKeys or gateway.existingSecret (a Secret, never the ConfigMap)"
  "REDIS_URL" "redis (a Secret when it holds a password)"
  "GATEWAY_PICKER" "gateway.routing.picker"
  "GATEWAY_LOAD_SCRAPE_MS" "gateway.routing.loadScrapeMs"
  "GATEWAY_PREFIX_BLOCK_BYTES" "gateway.routing.prefix.blockBytes"
  "GATEWAY_PREFIX_CACHE_BLOCKS" "gateway.routing.prefix.cacheBlocks"
  "GATEWAY_PREFIX_LOAD_THRESHOLD" "gateway.routing.prefix.loadThreshold"
  "GATEWAY_PREFIX_MIN_MATCH" "gateway.routing.prefix.minMatch"
  "GATEWAY_SESSION_HEADER" "gateway.routing.sessionHeader"
  "GATEWAY_DISCOVERY" "gateway.routing.discovery"
-}}
{{- if .Values.gateway.otel.enabled -}}
{{- range $key := list "OTEL_EXPORTER_OTLP_ENDPOINT" "OTEL_EXPORTER_OTLP_PROTOCOL" "OTEL_SERVICE_NAME" "OTEL_RESOURCE_ATTRIBUTES" "OTEL_TRACES_SAMPLER" "OTEL_TRACES_SAMPLER_ARG" "OTEL_EXPORTER_OTLP_HEADERS" -}}
{{- $_ := set $managed $key "gateway.otel" -}}
{{- end -}}
{{- end -}}
{{- toJson $managed -}}
{{- end -}}

{{/* gateway.env, refused where it would repeat a variable the chart sets or put a secret in the ConfigMap. */}}
{{- define "nexus.gatewayEnv" -}}
{{- $managed := include "nexus.gatewayManagedEnv" . | fromJson -}}
{{- range $key, $_ := .Values.gateway.env -}}
{{- if hasKey $managed $key -}}
{{- fail (printf "gateway.env.%s: the chart sets %s from %s; set that instead" $key $key (get $managed $key)) -}}
{{- end -}}
{{- end -}}
{{- toYaml .Values.gateway.env -}}
{{- end -}}

{{/*
The gateway's OpenTelemetry variables (ConfigMap data) when gateway.otel.enabled: endpoint, protocol, sampler,
service name and resource attributes (key=value, values percent-encoded). Headers come from a Secret (the Deployment).
*/}}
{{- define "nexus.otelEnv" -}}
{{- with .Values.gateway.otel }}
{{- if .enabled }}
{{- if not (regexMatch "^https?://" .endpoint) }}
{{- fail "gateway.otel.endpoint: set the collector's OTLP/HTTP URL (http:// or https://, e.g. http://otel-collector:4318) when gateway.otel.enabled is true" }}
{{- end }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ .endpoint | quote }}
OTEL_EXPORTER_OTLP_PROTOCOL: {{ .protocol | quote }}
OTEL_TRACES_SAMPLER: "parentbased_traceidratio"
OTEL_TRACES_SAMPLER_ARG: {{ .samplingRatio | toString | quote }}
OTEL_SERVICE_NAME: {{ .serviceName | quote }}
{{- with .resourceAttributes }}
{{- $pairs := list }}
{{- range $key, $value := . }}
{{- $pairs = append $pairs (printf "%s=%s" $key (urlquery $value | replace "+" "%20")) }}
{{- end }}
OTEL_RESOURCE_ATTRIBUTES: {{ join "," $pairs | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Names of the gateway's Secret and the key that holds the API keys. */}}
{{- define "nexus.gateway.secretName" -}}
{{- default (include "nexus.componentName" (list . "gateway")) .Values.gateway.existingSecret -}}
{{- end -}}

{{/* The HF_TOKEN Secret: hfToken.existingSecret, or the chart's own when hfToken.value is set, else none. */}}
{{- define "nexus.hfTokenSecret" -}}
{{- if .Values.hfToken.existingSecret -}}
{{- .Values.hfToken.existingSecret -}}
{{- else if .Values.hfToken.value -}}
{{- include "nexus.componentName" (list . "model-worker-secrets") -}}
{{- end -}}
{{- end -}}

{{/* Placement of a worker pod (computed in nexus.workers). Call with the worker. */}}
{{- define "nexus.workerPlacement" -}}
{{- $p := .placement -}}
{{- with $p.runtimeClassName }}
runtimeClassName: {{ . }}
{{- end }}
{{- with $p.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $p.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $p.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/* The gateway's ServiceAccount name. */}}
{{- define "nexus.gateway.serviceAccountName" -}}
{{- if .Values.gateway.serviceAccount.create -}}
{{- default (include "nexus.componentName" (list . "gateway")) .Values.gateway.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.gateway.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Model of the helm test and NOTES smoke test: tests.model, or the default upstream worker's model. */}}
{{- define "nexus.testModel" -}}
{{- $workers := include "nexus.workers" . | fromJson -}}
{{- $default := include "nexus.defaultUpstream" . -}}
{{- $fromWorker := "mock-worker" -}}
{{- if hasKey $workers $default }}{{ $fromWorker = (get $workers $default).model }}{{ end -}}
{{- default $fromWorker .Values.tests.model -}}
{{- end -}}
