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

{{/* Pod-level security context for a non-root uid. Call with the uid. */}}
{{- define "nexus.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container security context: read-only root, no privilege escalation, no capabilities. */}}
{{- define "nexus.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
{{- end -}}

{{/* image reference; an empty tag means the chart's appVersion. Call with (list $ .image). */}}
{{- define "nexus.image" -}}
{{- $ctx := index . 0 -}}
{{- $image := index . 1 -}}
{{- printf "%s:%s" $image.repository (default $ctx.Chart.AppVersion $image.tag) -}}
{{- end -}}

{{/*
Enabled workers as JSON: name -> the worker's values over files/worker-defaults.json, plus
record (its backend's entry in files/backends.json), gpu (resolved), isGpu, objectName and url.
The workers a user names are exactly the workers; when none is named, one mock worker (workers.mock: {}).
*/}}
{{- define "nexus.workers" -}}
{{- $defaults := .Files.Get "files/worker-defaults.json" | fromJson -}}
{{- $records := .Files.Get "files/backends.json" | fromJson -}}
{{- $out := dict -}}
{{- range $name, $values := .Values.workers | default (dict "mock" dict) -}}
{{- $w := deepCopy $values -}}
{{- range $key, $default := $defaults -}}
{{- if not (hasKey $w $key) -}}
{{- $_ := set $w $key $default -}}
{{- else if and (kindIs "map" $default) (kindIs "map" (get $w $key)) (not (has $key (list "resources" "gpuPool"))) -}}
{{- $given := get $w $key -}}
{{- range $k, $v := $default -}}
{{- if not (hasKey $given $k) }}{{ $_ := set $given $k $v }}{{ end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $w.enabled -}}
{{- if has $name (list "gateway" "redis" "test") -}}
{{- fail (printf "workers.%s: the name %q is reserved for the chart's own objects; pick another worker name" $name $name) -}}
{{- end -}}
{{- if and (ne $w.backend "mock") (not (hasKey $values "model")) -}}
{{- fail (printf "workers.%s.model: set the model id that backend %s serves (e.g. meta-llama/Meta-Llama-3-8B-Instruct)" $name $w.backend) -}}
{{- end -}}
{{- $record := get $records $w.backend -}}
{{- $managed := concat (list "MODEL_ID" "HOME" "HF_HOME" "HF_TOKEN") (keys $record.env) -}}
{{- if eq $record.drain.kind "env" }}{{ $managed = concat $managed (list $record.drain.delayVariable $record.drain.graceVariable) }}{{ end -}}
{{- range $key, $_ := $w.env -}}
{{- if has $key $managed -}}
{{- fail (printf "workers.%s.env.%s: the chart sets %s itself (from workers.%s.model, drainDelaySeconds, drainGraceSeconds, hfToken or the %s backend); remove it from env" $name $key $key $name $w.backend) -}}
{{- end -}}
{{- end -}}
{{- if not (hasKey $w "gpu") }}{{ $_ := set $w "gpu" $record.gpu }}{{ end -}}
{{- $_ := set $w "record" $record -}}
{{- $_ := set $w "isGpu" (gt (int $w.gpu) 0) -}}
{{- $objectName := include "nexus.componentName" (list $ $name) -}}
{{- $_ := set $w "objectName" $objectName -}}
{{- if eq $record.workload "inferenceService" -}}
{{- $_ := set $w "url" (printf "http://%s-predictor.%s.svc.cluster.local%s" $objectName $.Release.Namespace $record.basePath) -}}
{{- else -}}
{{- $_ := set $w "url" (printf "http://%s:%d%s" $objectName (int $record.port) $record.basePath) -}}
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

{{/* GATEWAY_UPSTREAMS: name=url;name=url, sorted by name. */}}
{{- define "nexus.upstreamList" -}}
{{- $upstreams := include "nexus.upstreams" . | fromJson -}}
{{- $pairs := list -}}
{{- range $name := keys $upstreams | sortAlpha -}}
{{- $pairs = append $pairs (printf "%s=%s" $name (get $upstreams $name)) -}}
{{- end -}}
{{- join ";" $pairs -}}
{{- end -}}

{{/* gateway.env, refused where it would repeat a variable the chart sets or put a secret in the ConfigMap. */}}
{{- define "nexus.gatewayEnv" -}}
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
-}}
{{- range $key, $_ := .Values.gateway.env -}}
{{- if hasKey $managed $key -}}
{{- fail (printf "gateway.env.%s: the chart sets %s from %s; set that instead" $key $key (get $managed $key)) -}}
{{- end -}}
{{- end -}}
{{- toYaml .Values.gateway.env -}}
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

{{/*
Placement of a worker pod: the GPU pool (with the worker's overrides) for GPU workers, nothing for the rest.
Call with (list $ $worker).
*/}}
{{- define "nexus.workerPlacement" -}}
{{- $ctx := index . 0 -}}
{{- $w := index . 1 -}}
{{- if $w.isGpu -}}
{{- $pool := deepCopy $ctx.Values.gpuPool -}}
{{- $override := default dict $w.gpuPool -}}
{{- range $key := list "nodeSelector" "tolerations" "affinity" "runtimeClassName" -}}
{{- if hasKey $override $key }}{{ $_ := set $pool $key (get $override $key) }}{{ end -}}
{{- end -}}
{{- with $pool.runtimeClassName }}
runtimeClassName: {{ . }}
{{- end }}
{{- with $pool.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $pool.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $pool.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* Resources of a worker container, with nvidia.com/gpu added to the limits of GPU workers. Call with the worker. */}}
{{- define "nexus.workerResources" -}}
{{- $res := deepCopy .resources -}}
{{- if .isGpu -}}
{{- $limits := default dict $res.limits -}}
{{- $_ := set $limits "nvidia.com/gpu" (int .gpu) -}}
{{- $_ := set $res "limits" $limits -}}
{{- end -}}
{{- toYaml $res -}}
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
