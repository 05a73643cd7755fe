{{/* Labels on every object; kustomize's base puts app.kubernetes.io/part-of on its objects too. */}}
{{- define "tokentap.labels" -}}
app.kubernetes.io/part-of: tokentap
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "tokentap.strimziLabels" -}}
strimzi.io/cluster: {{ .Values.kafka.clusterName }}
{{ include "tokentap.labels" . }}
{{- end -}}

{{- define "tokentap.aggregatorImage" -}}
{{- $image := .Values.aggregator.image -}}
{{- if $image.digest -}}
{{ $image.repository }}:{{ $image.tag }}@{{ $image.digest }}
{{- else -}}
{{ $image.repository }}:{{ $image.tag }}
{{- end -}}
{{- end -}}

{{- define "tokentap.bootstrapServers" -}}
{{- if .Values.kafka.create -}}
{{ .Values.kafka.clusterName }}-kafka-bootstrap.{{ .Release.Namespace }}.svc:9093
{{- else -}}
{{ required "kafka.bootstrapServers is required when kafka.create is false" .Values.kafka.bootstrapServers }}
{{- end -}}
{{- end -}}
