{{/* The NOTES.txt text (a define, so tests can render it with helm template). */}}
{{- define "nexus.notes" -}}
{{- $gw := include "nexus.componentName" (list . "gateway") -}}
{{- $ns := .Release.Namespace -}}
{{- $expose := .Values.gateway.expose -}}
Nexus {{ .Chart.AppVersion }} is installed as release {{ .Release.Name }} in namespace {{ $ns }}.

Upstreams:       {{ include "nexus.upstreamList" . }}
Default:         {{ include "nexus.defaultUpstream" . }}

1. The API key
{{- if .Values.gateway.existingSecret }}
   The gateway reads GATEWAY_API_KEYS from your Secret {{ .Values.gateway.existingSecret }}.
{{- else if .Values.gateway.apiKeys }}
   The gateway accepts the keys in gateway.apiKeys (stored in Secret {{ $gw }}).
{{- else }}
   No key was given, so the chart generated one; it is kept across upgrades. Read it with:
{{- end }}

   export NEXUS_KEY=$(kubectl -n {{ $ns }} get secret {{ include "nexus.gateway.secretName" . }} \
     -o jsonpath='{.data.GATEWAY_API_KEYS}' | base64 -d | cut -d, -f1)

2. Reach the gateway ({{ $expose.mode }})
{{- if eq $expose.mode "loadBalancer" }}
   kubectl -n {{ $ns }} get svc {{ include "nexus.componentName" (list . "gateway-lb") }} -w   # wait for EXTERNAL-IP (on kind: install MetalLB)
   export NEXUS_URL=http://$(kubectl -n {{ $ns }} get svc {{ include "nexus.componentName" (list . "gateway-lb") }} -o jsonpath='{.status.loadBalancer.ingress[0].ip}'):{{ $expose.loadBalancer.port }}
{{- else if eq $expose.mode "ingress" }}
   The Ingress routes host {{ $expose.ingress.host }} (class {{ $expose.ingress.className }}). Through ingress-nginx on kind:
   kubectl -n ingress-nginx port-forward svc/ingress-nginx-controller 8080:80 &
   export NEXUS_URL=http://localhost:8080   # and add  -H "Host: {{ $expose.ingress.host }}"  to curl
{{- else if eq $expose.mode "gatewayAPI" }}
   The HTTPRoute {{ $gw }} attaches to {{ range $expose.gatewayAPI.parentRefs }}{{ .name }} {{ end }}for {{ join ", " $expose.gatewayAPI.hostnames }}.
   Use your Gateway's address, or port-forward the Service as below.
{{- else }}
   kubectl -n {{ $ns }} port-forward svc/{{ $gw }} 8000:{{ .Values.gateway.service.port }} &
   export NEXUS_URL=http://localhost:8000
{{- end }}

3. Smoke test
   curl $NEXUS_URL/health
   curl -X POST $NEXUS_URL/v1/chat/completions -H "X-API-Key: $NEXUS_KEY" -H "Content-Type: application/json" \
     -d '{"model":"{{ include "nexus.testModel" . }}","messages":[{"role":"user","content":"hello"}]}'

   helm test {{ .Release.Name }} -n {{ $ns }}   # the same two calls, from inside the cluster
{{- end -}}
