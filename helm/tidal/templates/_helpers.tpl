{{/* Names and labels. */}}
{{- define "tidal.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tidal.fullname" -}}
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

{{- define "tidal.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "tidal.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tidal
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "history") */}}
{{- define "tidal.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tidal.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "tidal.componentLabels" -}}
{{ include "tidal.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "tidal.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tidal.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "tidal.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "tidal.workerImage" -}}
{{- printf "%s:%s" .Values.exampleWorker.image.repository (default .Chart.AppVersion .Values.exampleWorker.image.tag) -}}
{{- end -}}

{{/* Secret names: the chart's own when a URL is given inline, else the existing one. */}}
{{- define "tidal.amqpSecretName" -}}
{{- if .Values.rabbitmq.url -}}{{ include "tidal.fullname" . }}-amqp{{- else -}}{{ .Values.rabbitmq.existingSecret }}{{- end -}}
{{- end -}}

{{- define "tidal.databaseSecretName" -}}
{{- if .Values.postgres.url -}}{{ include "tidal.fullname" . }}-database{{- else -}}{{ .Values.postgres.existingSecret }}{{- end -}}
{{- end -}}

{{/* The amqp URL of one service: (dict "root" $ "service" NAME). Its own Secret key when
rabbitmq.serviceSecretKeys names one (a per-service user), else the shared secretKey. */}}
{{- define "tidal.amqpUrlEnv" -}}
{{- $root := .root -}}
{{- $own := index ($root.Values.rabbitmq.serviceSecretKeys | default dict) .service | default "" -}}
valueFrom:
  secretKeyRef:
    name: {{ include "tidal.amqpSecretName" $root }}
    key: {{ if $root.Values.rabbitmq.url }}url{{ else if $own }}{{ $own }}{{ else }}{{ $root.Values.rabbitmq.secretKey }}{{ end }}
{{- end -}}

{{- define "tidal.databaseUrlEnv" -}}
valueFrom:
  secretKeyRef:
    name: {{ include "tidal.databaseSecretName" . }}
    key: {{ if .Values.postgres.url }}url{{ else }}{{ .Values.postgres.secretKey }}{{ end }}
{{- end -}}

{{/* Environment common to the server processes: (dict "root" $ "service" NAME). */}}
{{- define "tidal.commonEnv" -}}
{{- $service := .service -}}
{{- with .root -}}
- name: TIDAL_SHARD_COUNT
  value: {{ .Values.shardCount | quote }}
- name: TIDAL_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: TIDAL_MEMBER_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: TIDAL_AMQP_URL
  {{- include "tidal.amqpUrlEnv" (dict "root" . "service" $service) | nindent 2 }}
{{- if and (eq $service "frontend") (index (.Values.rabbitmq.serviceSecretKeys | default dict) "worker") }}
- name: TIDAL_WORKER_AMQP_URL
  {{- include "tidal.amqpUrlEnv" (dict "root" . "service" "worker") | nindent 2 }}
{{- end }}
- name: TIDAL_DATABASE_URL
  {{- include "tidal.databaseUrlEnv" . | nindent 2 }}
{{- with .Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "tidal.podScheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
