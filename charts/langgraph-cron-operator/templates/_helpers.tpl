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
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
# API keys, read by name from apiKeySecretRef: never listed or watched.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
# The cronJob backend.
- apiGroups: [batch]
  resources: [cronjobs]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch]
{{- end }}

{{/*
Cluster-scoped reads needed in every mode. kopf observes namespaces (to resolve --namespace) and CRDs
(to notice the CRD being installed or changed); without them it serves what it saw at start-up and warns.
*/}}
{{- define "langgraph-cron-operator.kopfClusterRules" -}}
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
