{{- define "twinsnap.name" -}}twinsnap{{- end -}}
{{- define "twinsnap.fullname" -}}{{ printf "%s-twinsnap" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "twinsnap.labels" -}}
app.kubernetes.io/name: twinsnap
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
{{- define "twinsnap.selector" -}}
app.kubernetes.io/name: twinsnap
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: coordinator
{{- end -}}
