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
Image reference of the relay and the stand-in: image.tag, or the chart's
appVersion when it is empty (a release's chart runs that release's image).
*/}}
{{- define "restaurants.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The relay's upstream: relay.upstream when set, else the stand-in's Service
when menuApi.enabled, else the public API. With the Ingress the relay serves
the API's own paths (/api/restaurant), so the derived upstream is the API's
host root rather than its /api/.
*/}}
{{- define "restaurants.upstream" -}}
{{- $root := .Values.ingress.enabled }}
{{- if .Values.relay.upstream }}
{{- if and $root (regexMatch "/api/?$" .Values.relay.upstream) }}
{{- fail (printf "relay.upstream (%s) ends in /api, but with ingress.enabled the relay serves the API's own paths (/api/restaurant): set it to the API's host root, e.g. https://menu.dckube.scilifelab.se/" .Values.relay.upstream) }}
{{- end }}
{{- .Values.relay.upstream }}
{{- else if .Values.menuApi.enabled }}
{{- printf "http://%s:%d/%s" (include "restaurants.menuApi.fullname" .) (int .Values.menuApi.port) (ternary "" "api/" $root) }}
{{- else }}
{{- ternary "https://menu.dckube.scilifelab.se/" "https://menu.dckube.scilifelab.se/api/" $root }}
{{- end }}
{{- end }}

{{/*
The path below which the relay serves the API's routes: /api when it stands
at the API's host root (with the Ingress), else none.
*/}}
{{- define "restaurants.apiPrefix" -}}
{{- if .Values.ingress.enabled }}/api{{ end }}
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

{{/*
Name of the in-chart Valkey's Deployment and Service.
*/}}
{{- define "restaurants.valkey.fullname" -}}
{{- printf "%s-valkey" (include "restaurants.fullname" .) }}
{{- end }}

{{/*
In-chart Valkey labels and selector labels.
*/}}
{{- define "restaurants.valkey.labels" -}}
{{ include "restaurants.commonLabels" . }}
app.kubernetes.io/component: shared-cache
{{- end }}

{{- define "restaurants.valkey.selectorLabels" -}}
app.kubernetes.io/name: {{ include "restaurants.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: shared-cache
{{- end }}

{{/*
The relays' shared cache URL: sharedCache.url, else the in-chart Valkey when
valkey.enabled, else none. Setting both is refused.
*/}}
{{- define "restaurants.sharedCacheURL" -}}
{{- if and .Values.sharedCache.url .Values.valkey.enabled }}
{{- fail "set sharedCache.url (an existing Valkey/Redis) or valkey.enabled (one in the release), not both" }}
{{- end }}
{{- if .Values.sharedCache.url }}
{{- .Values.sharedCache.url }}
{{- else if .Values.valkey.enabled }}
{{- printf "redis://%s@%s:%d" .Values.valkey.user (include "restaurants.valkey.fullname" .) (int .Values.valkey.port) }}
{{- end }}
{{- end }}

{{/*
MiB in a Kubernetes memory quantity such as "256Mi", "1Gi", "300M" or a
number of bytes, as a float. The schema has already checked its form.
*/}}
{{- define "restaurants.quantityMiB" -}}
{{- $q := toString . }}
{{- $units := dict "Ki" (divf 1.0 1024.0) "Mi" 1.0 "Gi" 1024.0 "Ti" 1048576.0 "k" (divf 1000.0 1048576.0) "M" (divf 1000000.0 1048576.0) "G" (divf 1000000000.0 1048576.0) "T" (divf 1000000000000.0 1048576.0) }}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $q | float64 }}
{{- $unit := regexReplaceAll "^[0-9]+(\\.[0-9]+)?" $q "" }}
{{- if $unit }}
{{- mulf $number (get $units $unit) }}
{{- else }}
{{- divf $number 1048576.0 }}
{{- end }}
{{- end }}

{{/*
MiB in a relay --max-body value: bytes, or with KiB, MiB or GiB; the
relay's default (1MiB) when empty.
*/}}
{{- define "restaurants.maxBodyMiB" -}}
{{- $v := toString (default "1MiB" .) }}
{{- $units := dict "KiB" (divf 1.0 1024.0) "MiB" 1.0 "GiB" 1024.0 "B" (divf 1.0 1048576.0) "" (divf 1.0 1048576.0) }}
{{- $number := regexFind "^[0-9]+" $v | float64 }}
{{- $unit := regexReplaceAll "^[0-9]+" $v "" }}
{{- mulf $number (get $units $unit) }}
{{- end }}

{{/*
The memory a relay of these settings needs, in MiB, as the relay itself
reckons it for its soft memory limit: the cache, the upstream bodies that
may be in flight, and 32 MiB for everything else.
*/}}
{{- define "restaurants.relayMemoryMiB" -}}
{{- $relay := .Values.relay }}
{{- $cache := 64.0 }}
{{- if not (kindIs "invalid" $relay.cacheMaxMB) }}{{ $cache = float64 $relay.cacheMaxMB }}{{ end }}
{{- $inflight := 16.0 }}
{{- if not (kindIs "invalid" $relay.upstreamMaxInflight) }}{{ $inflight = float64 $relay.upstreamMaxInflight }}{{ end }}
{{- addf $cache (mulf $inflight (include "restaurants.maxBodyMiB" $relay.maxBody | float64)) 32.0 }}
{{- end }}

{{/*
The Secret the chart generates for what no existingSecret provides (the
admin token, the shared cache's signing key); it is created once and kept
across upgrades.
*/}}
{{- define "restaurants.secretName" -}}
{{- printf "%s-keys" (include "restaurants.fullname" .) }}
{{- end }}

{{/*
A value of the chart's generated Secret (name, key): the one it holds in
the cluster, else a new random one, base64 encoded.
*/}}
{{- define "restaurants.keptSecret" -}}
{{- $s := lookup "v1" "Secret" (index . 0).Release.Namespace (index . 1) }}
{{- $old := "" }}
{{- if $s }}{{ $old = index ($s.data | default dict) (index . 2) | default "" }}{{ end }}
{{- $old | default (randAlphaNum 48 | b64enc) }}
{{- end }}

{{/*
The commands the relays' user may run on the in-chart Valkey: what go-redis
sends on connecting (HELLO, AUTH, SELECT, CLIENT SETNAME), what the tier
sends (HMGET, the scripts through EVALSHA/EVAL/SCRIPT LOAD, SUBSCRIBE, PING,
and a purge's SCAN MATCH restaurants:* and UNLINK) and what its scripts call.
Nothing else: FLUSHALL, FLUSHDB, CONFIG, DEBUG, KEYS, MODULE, ACL, SHUTDOWN
and the rest are denied.
*/}}
{{- define "restaurants.valkey.commands" -}}
+hello +auth +select +client|setname +ping +quit +reset +get +set +del +unlink +exists +hget +hmget +hset +hincrby +pexpire +pttl +time +scan +evalsha +eval +script|load +script|exists +publish +subscribe +unsubscribe
{{- end }}
