{{- define "cloudsvc.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "cloudsvc.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "cloudsvc.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "cloudsvc.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "cloudsvc.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "cloudsvc.fullname" .)) -}}
{{- end -}}

{{- define "cloudsvc.metricsSecretName" -}}
{{- .Values.metrics.token.existingSecret | default (printf "%s-metrics" (include "cloudsvc.fullname" .)) -}}
{{- end -}}

{{/* The environment every cloudsvc container gets. */}}
{{- define "cloudsvc.env" -}}
- name: CLOUDSVC_ENVIRONMENT
  value: {{ .Values.environment | quote }}
- name: CLOUDSVC_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "cloudsvc.secretName" . }}
      key: database-url
- name: CLOUDSVC_BOOTSTRAP_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "cloudsvc.secretName" . }}
      key: bootstrap-token
      optional: true
- name: CLOUDSVC_WORKER_IN_PROCESS
  value: "false"
- name: CLOUDSVC_WORKER_LEASE_SECONDS
  value: {{ .Values.worker.leaseSeconds | quote }}
- name: CLOUDSVC_WORKER_IDLE_SECONDS
  value: {{ .Values.worker.idleSeconds | quote }}
{{- end -}}

{{- define "cloudsvc.pod" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
