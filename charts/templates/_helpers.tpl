{{/*
Chart name, overridable with nameOverride.
*/}}
{{- define "restaurants.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full object name: the release name, with the chart name appended unless the
release name already contains it. Truncated to 63 characters (DNS label);
the stand-in appends "-menu-api", so the base is cut to 54.
*/}}
{{- define "restaurants.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 54 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of the stand-in upstream's Deployment and Service.
*/}}
{{- define "restaurants.menuApi.fullname" -}}
{{- printf "%s-menu-api" (include "restaurants.fullname" .) }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "restaurants.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels shared by every object of the release.
*/}}
{{- define "restaurants.commonLabels" -}}
helm.sh/chart: {{ include "restaurants.chart" . }}
app.kubernetes.io/name: {{ include "restaurants.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: restaurants
{{- end }}

{{/*
Relay labels and selector labels.
*/}}
{{- define "restaurants.labels" -}}
{{ include "restaurants.commonLabels" . }}
app.kubernetes.io/component: relay
{{- end }}

{{- define "restaurants.selectorLabels" -}}
app.kubernetes.io/name: {{ include "restaurants.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: relay
{{- end }}

{{/*
Stand-in upstream labels and selector labels.
*/}}
{{- define "restaurants.menuApi.labels" -}}
{{ include "restaurants.commonLabels" . }}
app.kubernetes.io/component: menu-api
{{- end }}

{{- define "restaurants.menuApi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "restaurants.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: menu-api
{{- end }}

{{/*
Labels that select the `helm test` pod (the NetworkPolicy admits it).
*/}}
{{- define "restaurants.testSelectorLabels" -}}
app.kubernetes.io/name: {{ include "restaurants.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
{{- end }}

{{/*
ServiceAccount of the relay pods.
*/}}
{{- define "restaurants.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "restaurants.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference of the relay and the stand-in.
*/}}
{{- define "restaurants.image" -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag }}
{{- end }}

{{/*
The relay's upstream: relay.upstream when set, else the stand-in's Service
when menuApi.enabled, else the public API.
*/}}
{{- define "restaurants.upstream" -}}
{{- if .Values.relay.upstream }}
{{- .Values.relay.upstream }}
{{- else if .Values.menuApi.enabled }}
{{- printf "http://%s:%d/api/" (include "restaurants.menuApi.fullname" .) (int .Values.menuApi.port) }}
{{- else }}
{{- "https://menu.dckube.scilifelab.se/api/" }}
{{- end }}
{{- end }}

{{/*
Seconds in a Go duration string such as "5s", "1m30s" or "250ms", as a float.
The schema has already checked the string's form.
*/}}
{{- define "restaurants.durationSeconds" -}}
{{- $units := dict "ns" 0.000000001 "us" 0.000001 "µs" 0.000001 "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 }}
{{- $total := 0.0 }}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)" . -1 }}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" . | float64 }}
{{- $unit := regexReplaceAll "^[0-9]+(\\.[0-9]+)?" . "" }}
{{- $total = addf $total (mulf $number (get $units $unit)) }}
{{- end }}
{{- $total }}
{{- end }}

{{/*
Restricted Pod Security: container security context.
*/}}
{{- define "restaurants.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Restricted Pod Security: pod security context.
*/}}
{{- define "restaurants.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}
