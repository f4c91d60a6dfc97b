{{/* Names, labels and the small pieces the templates share. */}}

{{- define "harrier.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "harrier.fullname" -}}
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

{{/* Labels common to every resource. */}}
{{- define "harrier.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "harrier.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: include with (dict "ctx" $ "component" "sensor"). */}}
{{- define "harrier.selectorLabels" -}}
app.kubernetes.io/name: {{ include "harrier.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "harrier.componentLabels" -}}
{{ include "harrier.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "harrier.sensor.fullname" -}}
{{- printf "%s-sensor" (include "harrier.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "harrier.router.fullname" -}}
{{- printf "%s-router" (include "harrier.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "harrier.sensor.serviceAccountName" -}}
{{- if .Values.sensor.serviceAccount.create -}}
{{- default (include "harrier.sensor.fullname" .) .Values.sensor.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.sensor.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "harrier.router.serviceAccountName" -}}
{{- if .Values.router.serviceAccount.create -}}
{{- default (include "harrier.router.fullname" .) .Values.router.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.router.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "harrier.sensor.image" -}}
{{- printf "%s:%s" .Values.sensor.image.repository (default .Chart.AppVersion .Values.sensor.image.tag) -}}
{{- end -}}

{{- define "harrier.router.image" -}}
{{- printf "%s:%s" .Values.router.image.repository (default .Chart.AppVersion .Values.router.image.tag) -}}
{{- end -}}

{{/* The Secret holding passwords and tokens (existing or created). */}}
{{- define "harrier.secretName" -}}
{{- default (printf "%s-secrets" (include "harrier.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* The router's in-cluster DNS name. */}}
{{- define "harrier.router.host" -}}
{{- printf "%s.%s.svc" (include "harrier.router.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* Where sensors send alerts. */}}
{{- define "harrier.sensor.routerAddress" -}}
{{- if gt (int .Values.router.replicas) 1 -}}
{{- /* One DNS record per replica: gRPC's resolver balances over them and fails over. */ -}}
{{- default (printf "dns:///%s-headless.%s.svc:%v" (include "harrier.router.fullname" .) .Release.Namespace .Values.router.service.grpcPort) .Values.sensor.routerAddress -}}
{{- else -}}
{{- default (printf "%s:%v" (include "harrier.router.host" .) .Values.router.service.grpcPort) .Values.sensor.routerAddress -}}
{{- end -}}
{{- end -}}

{{/*
A token kept across upgrades: the value given, else the one already in the
created Secret, else a new random one. (lookup is empty under helm template,
so rendering offline always yields a fresh token.)
*/}}
{{- define "harrier.token" -}}
{{- $ctx := index . 0 -}}{{- $key := index . 1 -}}{{- $given := index . 2 -}}
{{- if $given -}}
{{- $given -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" $ctx.Release.Namespace (include "harrier.secretName" $ctx) -}}
{{- if and $existing (hasKey $existing.data $key) -}}
{{- index $existing.data $key | b64dec -}}
{{- else -}}
{{- randAlphaNum 40 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
"true" when subscription and dead-letter clients need a token: asked for
(auth.clientToken), or implied by auth.ingestToken, since once any token is
set the router closes those endpoints to callers without a client token (a
client-token is then generated unless secrets.clientToken gives one).
*/}}
{{- define "harrier.clientTokenOn" -}}
{{- if or .Values.auth.clientToken .Values.auth.ingestToken }}true{{ end -}}
{{- end -}}

{{/* Checks that fail early with a message naming the value. */}}
{{- define "harrier.validate" -}}
{{- if and .Values.auth.ingestToken (not .Values.tls.enabled) -}}
{{- fail "auth.ingestToken needs tls.enabled: the sensors never send a token over plaintext" -}}
{{- end -}}
{{- if and .Values.auth.clientToken (not .Values.tls.enabled) -}}
{{- fail "auth.clientToken needs tls.enabled: the router refuses tokens on a plaintext listener other hosts can reach" -}}
{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.routerSecret) -}}
{{- fail "tls.enabled needs tls.routerSecret (a Secret with tls.crt, tls.key and ca.crt)" -}}
{{- end -}}
{{- if and .Values.tls.mutual (not .Values.tls.enabled) -}}
{{- fail "tls.mutual needs tls.enabled" -}}
{{- end -}}
{{- if and .Values.tls.mutual (not .Values.tls.sensorSecret) -}}
{{- fail "tls.mutual needs tls.sensorSecret (the sensors' client tls.crt, tls.key and ca.crt)" -}}
{{- end -}}
{{- if and .Values.sensor.auditWebhook.tls.enabled (not .Values.sensor.auditWebhook.tls.secretName) -}}
{{- fail "sensor.auditWebhook.tls.enabled needs sensor.auditWebhook.tls.secretName" -}}
{{- end -}}
{{- if and .Values.router.outputs.elasticsearch.enabled (not .Values.router.outputs.elasticsearch.hostport) -}}
{{- fail "router.outputs.elasticsearch.enabled needs router.outputs.elasticsearch.hostport" -}}
{{- end -}}
{{- if and (gt (int .Values.router.replicas) 1) (ne .Values.router.journal.backend "kafka") -}}
{{- fail "router.replicas > 1 needs router.journal.backend: kafka (the local journal has a single writer)" -}}
{{- end -}}
{{- if not (has .Values.router.journal.backend (list "local" "kafka")) -}}
{{- fail (printf "router.journal.backend: want local or kafka, got %q" .Values.router.journal.backend) -}}
{{- end -}}
{{- if and (eq .Values.router.journal.backend "kafka") (not .Values.router.journal.kafka.brokers) -}}
{{- fail "router.journal.backend kafka needs router.journal.kafka.brokers" -}}
{{- end -}}
{{- if and .Values.router.outputs.kafka.enabled (not .Values.router.outputs.kafka.hostport) -}}
{{- fail "router.outputs.kafka.enabled needs router.outputs.kafka.hostport" -}}
{{- end -}}
{{- range $name, $hook := .Values.router.outputs.webhooks -}}
{{- if not (regexMatch "^[a-z0-9][a-z0-9_-]*$" $name) -}}
{{- fail (printf "router.outputs.webhooks.%s: names are lowercase letters, digits, - and _" $name) -}}
{{- end -}}
{{- if not $hook.address -}}
{{- fail (printf "router.outputs.webhooks.%s.address is required" $name) -}}
{{- end -}}
{{- end -}}
{{- range .Values.sensor.hostMounts.criSockets -}}
{{- if not (isAbs .) -}}
{{- fail (printf "sensor.hostMounts.criSockets: %q is not an absolute path" .) -}}
{{- end -}}
{{- end -}}
{{- with .Values.sensor.hostMounts.dockerRoot -}}
{{- if not (isAbs .) -}}
{{- fail (printf "sensor.hostMounts.dockerRoot: %q is not an absolute path" .) -}}
{{- end -}}
{{- end -}}
{{- range $file, $_ := .Values.rules.custom -}}
{{- if not (hasSuffix ".yaml" $file) -}}
{{- fail (printf "rules.custom.%s: rules file names end in .yaml (the sensor loads a directory's *.yaml)" $file) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The node directories holding sensor.hostMounts.criSockets, each once,
as a JSON array (a socket is replaced when its runtime restarts, so its
directory is mounted, not the socket file). */}}
{{- define "harrier.sensor.criSocketDirs" -}}
{{- $dirs := list -}}
{{- range .Values.sensor.hostMounts.criSockets }}{{ $dirs = append $dirs (dir .) }}{{ end -}}
{{- $dirs | uniq | toJson -}}
{{- end -}}

{{/* Mount points. */}}
{{- define "harrier.paths.secrets" -}}/etc/harrier/secrets{{- end -}}
