{{/*
Expand the name of the chart.
*/}}
{{- define "langgraph-cron-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "langgraph-cron-operator.fullname" -}}
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

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "langgraph-cron-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels
*/}}
{{- define "langgraph-cron-operator.labels" -}}
helm.sh/chart: {{ include "langgraph-cron-operator.chart" . }}
{{ include "langgraph-cron-operator.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels
*/}}
{{- define "langgraph-cron-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "langgraph-cron-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "langgraph-cron-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "langgraph-cron-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The operator image; the tag defaults to the chart's appVersion.
*/}}
{{- define "langgraph-cron-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/*
The number of operator pods: replicaCount, unless the deprecated `replicas` (its old name; not in
values.yaml) is set, which then wins so that existing values files keep working. A null
(`--set replicas=null`, the way to drop it under --reuse-values) counts as unset.
*/}}
{{- define "langgraph-cron-operator.replicaCount" -}}
{{- with .Values.replicas }}{{ int . }}{{ else }}{{ int $.Values.replicaCount }}{{ end }}
{{- end }}

{{/*
Several replicas run with kopf peering (one active at a time); one replica runs standalone.
*/}}
{{- define "langgraph-cron-operator.peering" -}}
{{- if gt (int (include "langgraph-cron-operator.replicaCount" .)) 1 }}true{{ end }}
{{- end }}

{{/*
Name of the kopf peering object shared by the replicas.
*/}}
{{- define "langgraph-cron-operator.peeringName" -}}
{{- include "langgraph-cron-operator.name" . }}
{{- end }}

{{/*
RBAC rules the operator needs in every namespace it serves (ClusterRole when it serves all of them).
*/}}
{{- define "langgraph-cron-operator.namespacedRules" -}}
# The resources it reconciles; kopf keeps its finalizer and bookkeeping annotations by patching.
- apiGroups: [lgcron.io]
  resources: [langgraphcrons]
  verbs: [get, list, watch, patch]
- apiGroups: [lgcron.io]
  resources: [langgraphcrons/status]
  verbs: [get, patch, update]
# CronJobs carry blockOwnerDeletion owner references, which some clusters
# (OwnerReferencesPermissionEnforcement) allow only with update on the owner's finalizers.
- apiGroups: [lgcron.io]
  resources: [langgraphcrons/finalizers]
  verbs: [update]
# Server objects (spec.serverRef): watched, kept with the operator's finalizer, their status written.
- apiGroups: [lgcron.io]
  resources: [langgraphservers]
  verbs: [get, list, watch, patch]
- apiGroups: [lgcron.io]
  resources: [langgraphservers/status]
  verbs: [get, patch, update]
- apiGroups: [lgcron.io]
  resources: [langgraphservers/finalizers]
  verbs: [update]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
# API keys, read by name from apiKeySecretRef (and CA bundles from a server's caBundleRef): never
# listed or watched.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
# CA bundles, read by name from a server object's caBundleRef of kind ConfigMap.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
# The cronJob backend.
- apiGroups: [batch]
  resources: [cronjobs]
  verbs: [get, list, watch, create, patch, update, delete]
# A trigger (lgcron.io/trigger) of the cronJob backend creates a Job from the CronJob.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create]
{{- end }}

{{/*
Cluster-scoped reads needed in every mode. kopf observes namespaces (to resolve --namespace) and CRDs
(to notice the CRD being installed or changed); without them it serves what it saw at start-up and warns.
*/}}
{{- define "langgraph-cron-operator.kopfClusterRules" -}}
# A ClusterLangGraphServer's namespaceSelector conditions read namespace labels from this same watch, or
# (the webhook, a cron handled before the watch delivered its namespace) by a list narrowed to one name:
# no extra verb.
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
# The cluster's identity (kube-system's UID) tags every cron, unless LGCRON_CLUSTER_ID is set.
- apiGroups: [""]
  resources: [namespaces]
  resourceNames: [kube-system]
  verbs: [get]
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- end }}

{{/*
ClusterLangGraphServer is cluster-scoped: kopf serves it cluster-wide even with --namespace, and only a
ClusterRole can grant it, so these rules are in the ClusterRole in every mode.
*/}}
{{- define "langgraph-cron-operator.clusterServerRules" -}}
- apiGroups: [lgcron.io]
  resources: [clusterlanggraphservers]
  verbs: [get, list, watch, patch]
- apiGroups: [lgcron.io]
  resources: [clusterlanggraphservers/status]
  verbs: [get, patch, update]
- apiGroups: [lgcron.io]
  resources: [clusterlanggraphservers/finalizers]
  verbs: [update]
{{- end }}


{{/*
The default ClusterLangGraphServer (defaultServer): its URL, and its key Secret's name and key; each
falls back to the operator-wide default (server.url, server.apiKeySecret).
*/}}
{{- define "langgraph-cron-operator.defaultServerUrl" -}}
{{- .Values.defaultServer.url | default .Values.server.url }}
{{- end }}

{{- define "langgraph-cron-operator.defaultServerSecretName" -}}
{{- .Values.defaultServer.apiKeySecretRef.name | default .Values.server.apiKeySecret.name }}
{{- end }}

{{- define "langgraph-cron-operator.defaultServerSecretNamespace" -}}
{{- if .Values.defaultServer.apiKeySecretRef.name }}
{{- .Values.defaultServer.apiKeySecretRef.namespace | default .Release.Namespace }}
{{- else }}
{{- .Release.Namespace }}
{{- end }}
{{- end }}

{{- define "langgraph-cron-operator.defaultServerSecretKey" -}}
{{- if .Values.defaultServer.apiKeySecretRef.name }}
{{- .Values.defaultServer.apiKeySecretRef.key }}
{{- else }}
{{- .Values.server.apiKeySecret.key }}
{{- end }}
{{- end }}

{{/*
Whether to render the default ClusterLangGraphServer now: asked for, and its API is served (or the CRDs
are not this release's, so they are there already). Helm maps every object of an install before creating
any, so a custom resource next to its own CRD in templates/ fails ("ensure CRDs are installed first").
*/}}
{{- define "langgraph-cron-operator.defaultServerRendered" -}}
{{- if and .Values.defaultServer.create (or (not .Values.crds.install) (.Capabilities.APIVersions.Has "lgcron.io/v1alpha1/ClusterLangGraphServer")) }}true{{ end }}
{{- end }}

{{/*
The validating admission webhook (webhook.enabled): the Service the apiserver calls it through (a DNS
label, so at most 63 characters with its suffix); the Secret where the operator keeps its own CA and
certificate; the cert-manager Certificate's Secret (another name: switching modes never mixes the two),
and where that one is mounted.
*/}}
{{- define "langgraph-cron-operator.webhookServiceName" -}}
{{- printf "%s-webhook" (include "langgraph-cron-operator.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{- define "langgraph-cron-operator.webhookTlsSecretName" -}}
{{- printf "%s-webhook-tls" (include "langgraph-cron-operator.fullname" .) }}
{{- end }}

{{- define "langgraph-cron-operator.webhookCertSecretName" -}}
{{- printf "%s-webhook-cert" (include "langgraph-cron-operator.fullname" .) }}
{{- end }}

{{- define "langgraph-cron-operator.webhookCertDir" -}}
/etc/lgcron/webhook-tls
{{- end }}

{{/*
RBAC for the ValidatingWebhookConfiguration the operator creates and keeps (kopf's managed mode: a create
whose 409 is expected, then merge patches). Cluster-scoped objects: only a ClusterRole can grant them.
*/}}
{{- define "langgraph-cron-operator.webhookClusterRules" -}}
{{- if .Values.webhook.enabled }}
# The admission webhook's configuration. Kubernetes cannot limit `create` to a name (the name is not
# known when a create is authorized), so create is for any ValidatingWebhookConfiguration; reading and
# patching are for the operator's own only. No MutatingWebhookConfiguration: the operator has none.
- apiGroups: [admissionregistration.k8s.io]
  resources: [validatingwebhookconfigurations]
  verbs: [create]
- apiGroups: [admissionregistration.k8s.io]
  resources: [validatingwebhookconfigurations]
  resourceNames: [{{ .Values.webhook.configurationName | quote }}]
  verbs: [get, patch]
{{- end }}
{{- end }}

{{/*
The metrics Service (metrics.enabled): a DNS label, so at most 63 characters with its suffix.
*/}}
{{- define "langgraph-cron-operator.metricsServiceName" -}}
{{- printf "%s-metrics" (include "langgraph-cron-operator.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}
