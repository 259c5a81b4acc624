{{/* The chart name. */}}
{{- define "cryptojack.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every resource name. */}}
{{- define "cryptojack.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cryptojack.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "cryptojack.labels" -}}
helm.sh/chart: {{ include "cryptojack.chart" . }}
{{ include "cryptojack.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cryptojack
{{- end }}

{{/* Labels that select the operator's pods. */}}
{{- define "cryptojack.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cryptojack.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The operator's ServiceAccount. */}}
{{- define "cryptojack.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cryptojack.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "cryptojack.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* `system:serviceaccount:NS:NAME` of the operator. */}}
{{- define "cryptojack.serviceAccountUser" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "cryptojack.serviceAccountName" .) }}
{{- end }}

{{/* PromQL label matchers of the operator's scrape targets (a ServiceMonitor's job is the Service name). */}}
{{- define "cryptojack.metricsSelector" -}}
{{- printf "job=%q, namespace=%q" (printf "%s-metrics" (include "cryptojack.fullname" .)) .Release.Namespace }}
{{- end }}
