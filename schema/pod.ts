/**
 * zod types of what each component's pod accepts beyond its own settings: pod metadata and scheduling, extra env and
 * volumes for its main container, and overrides of the chart's security contexts.
 */
import { z } from "zod";
import { stringMap } from "./common.ts";

/** An environment variable of a Pod spec: a literal value or valueFrom (Secret, ConfigMap, fieldRef...). */
const envVar = z.strictObject({
  name: z.string().regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/).describe("Variable name."),
  value: z.string().optional().describe("Literal value (or use valueFrom)."),
  valueFrom: z.record(z.string(), z.unknown()).optional().describe(
    "secretKeyRef, configMapKeyRef, fieldRef or resourceFieldRef, as in a Pod spec.",
  ),
});

const envFromRef = (what: string) =>
  z.strictObject({
    name: z.string().min(1).describe(`${what} name.`),
    optional: z.boolean().optional().describe(`Start even when the ${what} is missing.`),
  }).optional().describe(`Every key of this ${what} becomes a variable.`);

/** An envFrom source of a Pod spec. */
const envFromSource = z.strictObject({
  configMapRef: envFromRef("ConfigMap"),
  secretRef: envFromRef("Secret"),
  prefix: z.string().optional().describe("Prefix added to each variable name."),
});

/** A volumeMount of a Pod spec. */
const volumeMount = z.strictObject({
  name: z.string().min(1).describe("Name of a volume in extraVolumes."),
  mountPath: z.string().min(1).describe("Path inside the container."),
  readOnly: z.boolean().optional().describe("Mount read-only."),
  subPath: z.string().optional().describe("Mount one path of the volume."),
  subPathExpr: z.string().optional().describe("subPath with $(VAR) expansion."),
});

/** A topologySpreadConstraint of a Pod spec; without labelSelector the chart selects the component's own pods. */
const topologySpreadConstraint = z.strictObject({
  maxSkew: z.int().min(1).describe("Largest allowed difference in matching pods between two domains."),
  topologyKey: z.string().min(1).describe("Node label that defines a domain (kubernetes.io/hostname, zone...)."),
  whenUnsatisfiable: z.enum(["DoNotSchedule", "ScheduleAnyway"]).describe(
    "DoNotSchedule (hard) or ScheduleAnyway (soft: a preference).",
  ),
  labelSelector: z.record(z.string(), z.unknown()).optional().describe(
    "Pods counted; omitted: this component's pods (the chart fills in its selector labels).",
  ),
  matchLabelKeys: z.array(z.string()).optional().describe("Pod label keys whose values narrow the selection."),
  minDomains: z.int().min(1).optional().describe("Fewest eligible domains (with DoNotSchedule)."),
  nodeAffinityPolicy: z.enum(["Honor", "Ignore"]).optional().describe("Whether nodeSelector/affinity limit domains."),
  nodeTaintsPolicy: z.enum(["Honor", "Ignore"]).optional().describe("Whether taints limit domains."),
});

type Constraint = z.input<typeof topologySpreadConstraint>;

/** Pod metadata and scheduling knobs of one component. */
export function podScheduling(component: string, spread: Constraint[] = []) {
  return {
    podAnnotations: stringMap(`Extra annotations on the ${component} pods.`),
    podLabels: stringMap(
      `Extra labels on the ${component} pods (not the chart's own app.kubernetes.io/* or nexus.io/* labels).`,
    ),
    priorityClassName: z.string().default("").describe(`PriorityClass of the ${component} pods; empty: none.`),
    topologySpreadConstraints: z.array(topologySpreadConstraint).default(spread).describe(
      `How the ${component} pods spread over nodes or zones; a constraint without labelSelector counts this ` +
        "component's pods.",
    ),
  };
}

/** Extra environment and volumes for a component's main container. */
export function containerExtras(component: string) {
  return {
    extraEnv: z.array(envVar).default([]).describe(
      `Extra environment of the ${component} container, as a Pod spec's env (value or valueFrom: secretKeyRef, ` +
        "fieldRef...); variables the chart sets are refused.",
    ),
    extraEnvFrom: z.array(envFromSource).default([]).describe(
      `envFrom sources (ConfigMaps, Secrets) of the ${component} container.`,
    ),
    extraVolumes: z.array(z.record(z.string(), z.unknown())).default([]).describe(
      `Extra volumes of the ${component} pods, as in a Pod spec (name plus a source).`,
    ),
    extraVolumeMounts: z.array(volumeMount).default([]).describe(
      `Where the ${component} container mounts extraVolumes.`,
    ),
  };
}

/** The container securityContext every chart container starts from: no privilege escalation, no capabilities. */
export const restrictedContainer = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  privileged: false,
  capabilities: { drop: ["ALL"] },
};

/**
 * The security contexts of a component with a fixed non-root uid, as values Helm merges key by key: a key set to null
 * is removed (on OpenShift runAsUser, runAsGroup and fsGroup null, so the namespace's UID range applies).
 */
export function securityContexts(component: string, uid: number) {
  return {
    podSecurityContext: z.record(z.string(), z.unknown()).default({
      runAsNonRoot: true,
      runAsUser: uid,
      runAsGroup: uid,
      fsGroup: uid,
      seccompProfile: { type: "RuntimeDefault" },
    }).describe(
      `Pod securityContext of the ${component}; Helm merges yours key by key and null removes a key (on OpenShift ` +
        "set runAsUser, runAsGroup and fsGroup to null so the namespace's UID range applies).",
    ),
    securityContext: z.record(z.string(), z.unknown()).default(restrictedContainer).describe(
      `Container securityContext of the ${component}; Helm merges yours key by key and null removes a key.`,
    ),
  };
}

/** A worker's overrides of its security profile's contexts (the profile decides the defaults, per backend). */
export const workerSecurityOverrides = {
  podSecurityContext: z.record(z.string(), z.unknown()).optional().describe(
    "Merged over the pod securityContext of the worker's securityProfile; a key set to null removes it (on " +
      "OpenShift runAsUser, runAsGroup and fsGroup null, so the namespace's UID range applies).",
  ),
  securityContext: z.record(z.string(), z.unknown()).optional().describe(
    "Merged over the container securityContext of the worker's securityProfile; a key set to null removes it.",
  ),
};
