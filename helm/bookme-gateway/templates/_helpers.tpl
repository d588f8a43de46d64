{{- define "bookme-gateway.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bookme-gateway.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "bookme-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bookme-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bookme-gateway.labels" -}}
{{ include "bookme-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "bookme-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bookme-gateway.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "bookme-gateway.secretName" -}}
{{- default (printf "%s-secrets" (include "bookme-gateway.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* The ports the gateway listens on, from its own config (defaults as in the app). */}}
{{- define "bookme-gateway.proxyPort" -}}
{{- (.Values.config.server | default dict).port | default 8080 -}}
{{- end -}}
{{- define "bookme-gateway.adminPort" -}}
{{- (.Values.config.server | default dict).adminPort | default 9090 -}}
{{- end -}}
{{- define "bookme-gateway.shutdownGraceSeconds" -}}
{{- div (((.Values.config.server | default dict).shutdownGraceMs | default 10000) | int) 1000 -}}
{{- end -}}

{{/* Where the config is mounted; the container's args name it (the image's BOOKME_GATEWAY_CONFIG says the same). */}}
{{- define "bookme-gateway.configDir" -}}
/etc/bookme-gateway
{{- end -}}
{{- define "bookme-gateway.configPath" -}}
{{ include "bookme-gateway.configDir" . }}/gateway.yaml
{{- end -}}
{{- define "bookme-gateway.keysDir" -}}
{{ include "bookme-gateway.configDir" . }}/keys
{{- end -}}

{{/* The Secret the chart makes (and keeps) for assertionKey.create. */}}
{{- define "bookme-gateway.generatedAssertionSecretName" -}}
{{- printf "%s-assertion" (include "bookme-gateway.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The Secrets whose files are the assertion's signing keys, all mounted together at keysDir (a
JSON list): the generated one, existingSecret, then additionalSecrets. Several at once is how a
rotation keeps the old key's file while the new one is added (README "Rotating the assertion key").
*/}}
{{- define "bookme-gateway.assertionSecrets" -}}
{{- $names := list -}}
{{- if .Values.assertionKey.create -}}
{{- $names = append $names (include "bookme-gateway.generatedAssertionSecretName" .) -}}
{{- end -}}
{{- with .Values.assertionKey.existingSecret -}}
{{- $names = append $names . -}}
{{- end -}}
{{- range .Values.assertionKey.additionalSecrets -}}
{{- $names = append $names . -}}
{{- end -}}
{{- $names | uniq | toJson -}}
{{- end -}}
