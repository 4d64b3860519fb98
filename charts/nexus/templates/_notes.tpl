{{/* The NOTES.txt text (a define, so tests can render it with helm template). */}}
{{- define "nexus.notes" -}}
{{- $gw := include "nexus.componentName" (list . "gateway") -}}
{{- $ns := .Release.Namespace -}}
{{- $expose := .Values.gateway.expose -}}
{{- $svcType := .Values.gateway.service.type -}}
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

2. Reach the gateway ({{ ternary $expose.mode (printf "Service %s" $svcType) (ne $expose.mode "clusterIP") }})
{{- $host := "" }}
{{- if and (eq $expose.mode "clusterIP") (eq $svcType "LoadBalancer") }}
   kubectl -n {{ $ns }} get svc {{ $gw }} -w   # wait for EXTERNAL-IP (on kind: install MetalLB)
   export NEXUS_URL=http://$(kubectl -n {{ $ns }} get svc {{ $gw }} -o jsonpath='{.status.loadBalancer.ingress[0].ip}{.status.loadBalancer.ingress[0].hostname}'):{{ .Values.gateway.service.port }}
{{- else if and (eq $expose.mode "clusterIP") (eq $svcType "NodePort") }}
   export NEXUS_URL=http://$(kubectl get nodes -o jsonpath='{.items[0].status.addresses[?(@.type=="InternalIP")].address}'):$(kubectl -n {{ $ns }} get svc {{ $gw }} -o jsonpath='{.spec.ports[0].nodePort}')
{{- else if eq $expose.mode "ingress" }}
{{- $host = $expose.ingress.host }}
   The Ingress routes host {{ $host }} (class {{ $expose.ingress.className }}). Through ingress-nginx on kind:
   kubectl -n ingress-nginx port-forward svc/ingress-nginx-controller 8080:80 &
   export NEXUS_URL=http://localhost:8080
{{- else if eq $expose.mode "gatewayAPI" }}
{{- $host = first $expose.gatewayAPI.hostnames | default "" }}
{{- $parent := first $expose.gatewayAPI.parentRefs }}
   The HTTPRoute {{ $gw }} attaches to {{ range $expose.gatewayAPI.parentRefs }}{{ .name }} {{ end }}for {{ with $expose.gatewayAPI.hostnames }}{{ join ", " . }}{{ else }}any host{{ end }}.
   Through the Gateway {{ $parent.name }}:
   export NEXUS_URL=http://$(kubectl -n {{ default $ns $parent.namespace }} get gateway {{ $parent.name }} -o jsonpath='{.status.addresses[0].value}')
   Or straight to the Service, bypassing the Gateway:
   kubectl -n {{ $ns }} port-forward svc/{{ $gw }} 8000:{{ .Values.gateway.service.port }} &
   export NEXUS_URL=http://localhost:8000
{{- else }}
   kubectl -n {{ $ns }} port-forward svc/{{ $gw }} 8000:{{ .Values.gateway.service.port }} &
   export NEXUS_URL=http://localhost:8000
{{- end }}
{{- $hostHeader := ternary (printf " -H \"Host: %s\"" $host) "" (ne $host "") }}

3. Smoke test
   curl{{ $hostHeader }} $NEXUS_URL/health
   curl{{ $hostHeader }} -X POST $NEXUS_URL/v1/chat/completions -H "X-API-Key: $NEXUS_KEY" -H "Content-Type: application/json" \
     -d '{"model":"{{ include "nexus.testModel" . }}","messages":[{"role":"user","content":"hello"}]}'

   helm test {{ .Release.Name }} -n {{ $ns }}   # the same two calls, from inside the cluster
{{- end -}}
