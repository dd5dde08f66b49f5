{{/* Names. app.kubernetes.io/name is always product-categorizer: it is the
Prometheus job label (ServiceMonitor jobLabel) that deploy/prometheus/alerts.yml
and the dashboard query (job="product-categorizer"). */}}
{{- define "pc.name" -}}product-categorizer{{- end -}}

{{- define "pc.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else if contains "product-categorizer" .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-product-categorizer" .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "pc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pc.labels" -}}
{{ include "pc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: worker
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "pc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "pc.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "pc.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* librdkafka property -> its KAFKA_<NAME> variable (the worker's rule, reversed). */}}
{{- define "pc.kafkaEnvName" -}}
{{- printf "KAFKA_%s" (. | replace "." "_" | replace "-" "_" | upper) -}}
{{- end -}}

{{/* A value as the worker parses it. YAML numbers from values files arrive
as float64, which toString prints as 6.7108864e+07: integral ones are
printed as integers. */}}
{{- define "pc.scalar" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) -}}
{{- int64 . | toString -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{- define "pc.secretDir" -}}/var/run/secrets/product-categorizer/kafka{{- end -}}
{{- define "pc.modelDir" -}}/var/lib/product-categorizer/model{{- end -}}

{{- define "pc.shutdownTimeout" -}}
{{- int (default 30 .Values.worker.shutdownTimeoutSecs) -}}
{{- end -}}

{{- define "pc.terminationGracePeriod" -}}
{{- $min := add (int (include "pc.shutdownTimeout" .)) 10 -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- $min -}}
{{- else -}}
{{- int .Values.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{- define "pc.modelPath" -}}
{{- if eq .Values.model.source "image" -}}
{{- .Values.model.path -}}
{{- else -}}
{{- printf "%s/%s" (include "pc.modelDir" .) .Values.model.fileName -}}
{{- end -}}
{{- end -}}

{{/* Rules the schema cannot express. Each fails the render with a message
naming the values to change. Included by every template, so `helm template
-s templates/<one>.yaml` enforces them too. */}}
{{- define "pc.validate" -}}
{{- $v := .Values -}}
{{- if not $v.kafka.bootstrapServers -}}
{{- fail "kafka.bootstrapServers is required: the Kafka brokers, host:port[,host:port...]" -}}
{{- end -}}
{{- if and (eq $v.worker.deliveryGuarantee "exactly-once") (ne $v.workload.kind "StatefulSet") -}}
{{- fail (printf "worker.deliveryGuarantee=exactly-once needs workload.kind=StatefulSet: a transactional id must be stable per pod (INSTANCE_ID from the StatefulSet pod name) and unique among live ones; a %s's pods get new names on every restart, leaving open transactions to block read_committed readers until they time out" $v.workload.kind) -}}
{{- end -}}
{{- $min := add (int (include "pc.shutdownTimeout" .)) 10 -}}
{{- $tgp := int (include "pc.terminationGracePeriod" .) -}}
{{- if lt $tgp $min -}}
{{- fail (printf "terminationGracePeriodSeconds=%d is below worker.shutdownTimeoutSecs (%s) + 10 = %d: the kubelet would SIGKILL the worker before it finishes its batch, commits and leaves the group" $tgp (include "pc.shutdownTimeout" .) $min) -}}
{{- end -}}
{{- $parts := int $v.kafka.inputPartitions -}}
{{- if $v.keda.enabled -}}
{{- if gt (int $v.keda.maxReplicaCount) $parts -}}
{{- fail (printf "keda.maxReplicaCount=%d is above kafka.inputPartitions=%d: a consumer group uses at most one replica per partition, the others would idle (and each one added is a rebalance)" (int $v.keda.maxReplicaCount) $parts) -}}
{{- end -}}
{{- if lt (int $v.keda.maxReplicaCount) (int $v.keda.minReplicaCount) -}}
{{- fail (printf "keda.maxReplicaCount=%d is below keda.minReplicaCount=%d" (int $v.keda.maxReplicaCount) (int $v.keda.minReplicaCount)) -}}
{{- end -}}
{{- if and $v.keda.authSecretKeys (not $v.kafka.secret.name) -}}
{{- fail "keda.authSecretKeys needs kafka.secret.name: the TriggerAuthentication reads the same Secret as the pods" -}}
{{- end -}}
{{- else if gt (int $v.replicaCount) $parts -}}
{{- fail (printf "replicaCount=%d is above kafka.inputPartitions=%d: a consumer group uses at most one replica per partition" (int $v.replicaCount) $parts) -}}
{{- end -}}
{{- if and (or $v.kafka.secret.properties $v.kafka.secret.paths) (not $v.kafka.secret.name) -}}
{{- fail "kafka.secret.properties/paths need kafka.secret.name: an existing Secret in the release namespace" -}}
{{- end -}}
{{- range $prop, $_ := $v.kafka.config -}}
{{- if regexMatch "(password|secret|\\.pem$|^sasl\\.jaas|oauthbearer\\.config$|assertion$|private\\.key)" $prop -}}
{{- fail (printf "kafka.config.%s looks like a secret: give it through kafka.secret.properties (a key of an existing Secret, read from a file with %s_FILE), never as a value" $prop (include "pc.kafkaEnvName" $prop)) -}}
{{- end -}}
{{- end -}}
{{- range $prop, $_ := $v.kafka.config -}}
{{- if or (hasKey $v.kafka.secret.properties $prop) (hasKey $v.kafka.secret.paths $prop) -}}
{{- fail (printf "kafka property %s is given both in kafka.config and kafka.secret: the worker refuses a property set twice" $prop) -}}
{{- end -}}
{{- end -}}
{{- range $prop, $_ := $v.kafka.secret.properties -}}
{{- if hasKey $v.kafka.secret.paths $prop -}}
{{- fail (printf "kafka property %s is in both kafka.secret.properties and kafka.secret.paths" $prop) -}}
{{- end -}}
{{- end -}}
{{- if and (eq $v.model.source "url") (or (not $v.model.url) (not $v.model.sha256)) -}}
{{- fail "model.source=url needs model.url and model.sha256 (the init container refuses a file whose sha256 differs)" -}}
{{- end -}}
{{- if and (eq $v.model.source "volume") (not $v.model.volume.claimName) -}}
{{- fail "model.source=volume needs model.volume.claimName (an existing PersistentVolumeClaim holding model.fileName)" -}}
{{- end -}}
{{- if and $v.worker.shadowTopic (not $v.model.shadow.path) -}}
{{- fail "worker.shadowTopic needs model.shadow.path (SHADOW_TOPIC needs SHADOW_MODEL_PATH)" -}}
{{- end -}}
{{- end -}}
