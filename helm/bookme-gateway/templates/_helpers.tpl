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

{{/*
configDir holds the gateway's files: the ConfigMap's folder (configMapDir), the assertion keys
(keysDir) and what extraVolumeMounts add (e.g. tls/), each a mount of its own beside the others.
The ConfigMap is mounted as a whole folder, not file by file (subPath), because the kubelet
updates a ConfigMap volume in place (a new `..data` symlink) but never a subPath mount: the
gateway watches that folder and reloads the config and mappings files live (CONTRACT.md §14).
The container's args and BOOKME_GATEWAY_CONFIG name configPath.
*/}}
{{- define "bookme-gateway.configDir" -}}
/etc/bookme-gateway
{{- end -}}
{{- define "bookme-gateway.configMapDir" -}}
{{ include "bookme-gateway.configDir" . }}/config
{{- end -}}
{{- define "bookme-gateway.configPath" -}}
{{ include "bookme-gateway.configMapDir" . }}/gateway.yaml
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

{{/*
What the Deployment's pods and the `helm test` pod (templates/tests/check.yaml) share, so that
`check` runs with the very env, files, identity and hardening the gateway runs with.
*/}}

{{/* Pod labels beside the selector's: podLabels, and workload identity's, which the webhook selects pods by. */}}
{{- define "bookme-gateway.podLabels" -}}
{{- $labels := deepCopy (.Values.podLabels | default dict) -}}
{{- if .Values.graph.workloadIdentity.clientId -}}
{{- $_ := set $labels "azure.workload.identity/use" "true" -}}
{{- end -}}
{{- with $labels }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* Who the pod runs as: service account, pull secrets, securityContext. */}}
{{- define "bookme-gateway.podIdentity" -}}
serviceAccountName: {{ include "bookme-gateway.serviceAccountName" . }}
# Nothing in the pod talks to the Kubernetes API. Workload identity's token is a volume of its
# own (the webhook's projected service-account token), not this one.
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  fsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{/* Where the pod may run: nodeSelector, affinity, tolerations. */}}
{{- define "bookme-gateway.podPlacement" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "bookme-gateway.image" -}}
{{ printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) | quote }}
{{- end -}}

{{/* The container's env: the heap's ceilings, the Secret's keys, extraEnv. */}}
{{- define "bookme-gateway.env" -}}
- name: NODE_OPTIONS
  value: "--max-old-space-size={{ .Values.heapMaxMb }} --max-semi-space-size={{ .Values.semiSpaceMb }}"
# The image's default (/etc/bookme-gateway/gateway.yaml) is not where the chart mounts the
# config; this names configPath for a command run without --config.
- name: BOOKME_GATEWAY_CONFIG
  value: {{ include "bookme-gateway.configPath" . | quote }}
# Each from the Secret's key of that name; a key the Secret lacks leaves its variable
# unset (optional), so only a config that uses "${VAR}" needs it.
{{- range $env, $key := dict "MYSQL_PASSWORD" "mysql-password" "REDIS_URL" "redis-url" "REDIS_PASSWORD" "redis-password" "SENTINEL_PASSWORD" "sentinel-password" "GRAPH_SECRET" "graph-secret" }}
- name: {{ $env }}
  valueFrom:
    secretKeyRef:
      name: {{ include "bookme-gateway.secretName" $ }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "bookme-gateway.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "bookme-gateway.volumeMounts" -}}
# The ConfigMap's folder (gateway.yaml, mappings.yaml), kept up to date by the kubelet; other
# mounts go beside it under configDir, never inside it.
- name: config
  mountPath: {{ include "bookme-gateway.configMapDir" . }}
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if include "bookme-gateway.assertionSecrets" . | fromJsonArray }}
# Every key of every assertion Secret as a file: config.assertion.keys names them.
- name: assertion-keys
  mountPath: {{ include "bookme-gateway.keysDir" . }}
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "bookme-gateway.volumes" -}}
{{- $keySecrets := include "bookme-gateway.assertionSecrets" . | fromJsonArray -}}
- name: config
  configMap:
    name: {{ include "bookme-gateway.fullname" . }}
- name: tmp
  emptyDir: { sizeLimit: 16Mi }
{{- if $keySecrets }}
# One folder from all of them: during a rotation the old key's Secret stays mounted
# beside the new one's. Readable by the pod's group (fsGroup) only: they are private keys.
- name: assertion-keys
  projected:
    defaultMode: 288 # 0440, written in decimal so every YAML reader agrees
    sources:
      {{- range $keySecrets }}
      - secret:
          name: {{ . }}
      {{- end }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The pod template's annotations that roll the pods when something read only at start changes
(chart README "Config changes"). `live`: the config's server section, the one section the gateway
applies at the next start only (src/reload/config-reload.ts); every other config or mappings
change reaches the running pods through the ConfigMap volume. `rollout`: the whole ConfigMap,
so every change replaces the pods. Env, args, ports and volumes are in the pod template itself,
so a change of theirs rolls the pods either way; the Secret's values are env, read at start.
*/}}
{{- define "bookme-gateway.restartChecksums" -}}
{{- if eq (.Values.configReload | default "live") "rollout" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- else -}}
checksum/config-server: {{ (.Values.config.server | default dict) | toJson | sha256sum }}
{{- end }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}

{{/*
The config's file paths (keys named `file` or ending in `File`), one `path<TAB>value` line each,
for the checks of bookme-gateway.validate. Takes (dict "path" "config" "value" .Values.config).
*/}}
{{- define "bookme-gateway.configFiles" -}}
{{- $path := .path -}}
{{- if kindIs "map" .value -}}
{{- range $key, $value := .value -}}
{{- $at := printf "%s.%s" $path $key -}}
{{- if and (kindIs "string" $value) (or (eq $key "file") (hasSuffix "File" $key)) -}}
{{ printf "%s\t%s\n" $at $value }}
{{- else -}}
{{ include "bookme-gateway.configFiles" (dict "path" $at "value" $value) }}
{{- end -}}
{{- end -}}
{{- else if kindIs "slice" .value -}}
{{- range $i, $value := .value -}}
{{ include "bookme-gateway.configFiles" (dict "path" (printf "%s[%d]" $path $i) "value" $value) }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Values a render refuses before anything reaches the cluster, each refusal naming the fix. */}}
{{- define "bookme-gateway.validate" -}}
{{- $configDir := include "bookme-gateway.configDir" . }}
{{- $configMapDir := include "bookme-gateway.configMapDir" . }}
{{- $configMapKeys := list "gateway.yaml" "mappings.yaml" }}
{{- /* The gateway resolves a relative path against the config file's folder, which is the ConfigMap's: only its own keys are there. */}}
{{- range splitList "\n" (include "bookme-gateway.configFiles" (dict "path" "config" "value" .Values.config)) }}
{{- $entry := splitList "\t" . }}
{{- if eq (len $entry) 2 }}
{{- $at := index $entry 0 }}
{{- $file := index $entry 1 }}
{{- $resolved := ternary $file (clean (printf "%s/%s" $configMapDir $file)) (isAbs $file) }}
{{- if and (not (contains "${" $file)) (hasPrefix (printf "%s/" $configMapDir) $resolved) (not (has (trimPrefix (printf "%s/" $configMapDir) $resolved) $configMapKeys)) }}
{{- fail (printf "%s: %s is %s, in the ConfigMap's folder, which holds only %s: relative paths are relative to the config file, %s. Give the file's absolute path, e.g. %s (chart README, \"Config changes\")" $at $file $resolved (join " and " $configMapKeys) (include "bookme-gateway.configPath" $) (ternary $file (clean (printf "%s/%s" $configDir $file)) (isAbs $file))) }}
{{- end }}
{{- end }}
{{- end }}
{{- range .Values.extraVolumeMounts }}
{{- if or (eq (clean (toString .mountPath)) $configMapDir) (hasPrefix (printf "%s/" $configMapDir) (clean (toString .mountPath))) }}
{{- fail (printf "extraVolumeMounts: %s is in %s, the ConfigMap's folder, which the kubelet rewrites on every change: mount it beside, e.g. %s/%s" .mountPath $configMapDir $configDir (base (toString .mountPath))) }}
{{- end }}
{{- end }}
{{- $keySecrets := include "bookme-gateway.assertionSecrets" . | fromJsonArray }}
{{- $keysDir := include "bookme-gateway.keysDir" . }}
{{- range ((.Values.config.assertion | default dict).keys | default list) }}
{{- if and (hasPrefix (printf "%s/" $keysDir) (toString .privateKeyFile)) (not $keySecrets) }}
{{- fail (printf "config.assertion.keys: %s is in %s, where the chart mounts assertionKey's Secrets, but none is named: set assertionKey.existingSecret (chart README, \"Assertion key\")" .privateKeyFile $keysDir) }}
{{- end }}
{{- end }}
{{- with .Values.graph.workloadIdentity.clientId }}
{{- $graph := ($.Values.config.entra | default dict).graph | default dict }}
{{- if and $graph.clientId (ne (lower (toString $graph.clientId)) (lower .)) }}
{{- fail (printf "graph.workloadIdentity.clientId %s is not config.entra.graph.clientId %s: the gateway asks for Graph tokens as entra.graph.clientId, and only the app whose federated credential trusts this service account accepts its token (chart README, \"Graph with workload identity\")" . $graph.clientId) }}
{{- end }}
{{- range $key := list "clientSecret" "clientSecretFile" "clientCertificate" "federatedTokenFile" }}
{{- if hasKey $graph $key }}
{{- fail (printf "config.entra.graph.%s: with graph.workloadIdentity the credential is the service-account token the webhook mounts; a configured one would win over it and the token never be sent. Leave %s out: $AZURE_FEDERATED_TOKEN_FILE names the token wherever the webhook mounts it" $key $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The `helm test` pod: its name, and labels that are not the Deployment's selector. */}}
{{- define "bookme-gateway.checkName" -}}
{{- printf "%s-check" (include "bookme-gateway.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "bookme-gateway.checkAppName" -}}
{{- printf "%s-check" (include "bookme-gateway.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "bookme-gateway.checkLabels" -}}
app.kubernetes.io/name: {{ include "bookme-gateway.checkAppName" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: check
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}
