# Generates tests/kubesim/src/proto/types.rs: the protobuf field tables of the kinds kubesim
# decodes. Inputs (read from the local cargo registry, e.g. after `cargo info k8s-pb`):
#   k8s-pb 0.9.0 (prost code generated from the Kubernetes .proto files): field numbers and types
#   k8s-openapi 0.29.0 (v1_35): the JSON names of the fields
# Usage: python3 tests/kubesim/tools/gen_proto_types.py > tests/kubesim/src/proto/types.rs && cargo fmt
import re, os, sys, glob, json
PB = glob.glob(os.path.expanduser('~/.cargo/registry/src/*/k8s-pb-0.9.0/src'))[0]
OA = glob.glob(os.path.expanduser('~/.cargo/registry/src/*/k8s-openapi-0.29.0/src/v1_35'))[0]

# module path in k8s-pb -> (file, pkg)
def pb_file(mod):  # e.g. "api/core/v1"
    return os.path.join(PB, mod, 'mod.rs')

field_re = re.compile(r'#\[prost\(([^)]*)\)\]\s*pub (r#)?(\w+):\s*([^;]*?),\n', re.S)

def snake(name):
    # CamelCase -> snake file name as k8s-openapi does
    s = re.sub(r'(?<!^)(?=[A-Z][a-z])', '_', name)
    s = re.sub(r'([a-z0-9])([A-Z])', r'\1_\2', s)
    return s.lower()

def oa_names(oa_mod, type_name):
    # returns rust field name -> json name
    fn = os.path.join(OA, oa_mod, snake(type_name) + '.rs')
    if not os.path.exists(fn):
        cands = [f for f in os.listdir(os.path.join(OA, oa_mod)) if f.replace('_','') == (type_name.lower()+'.rs')]
        if not cands:
            raise SystemExit(f"no k8s-openapi file for {oa_mod} {type_name} ({fn})")
        fn = os.path.join(OA, oa_mod, cands[0])
    src = open(fn).read()
    pairs = dict((r, j) for j, r in re.findall(r'"([A-Za-z0-9$_.-]+)" => Field::Key_(\w+),', src))
    return pairs

msg_re = re.compile(r'pub struct (\w+) \{(.*?\n)\}', re.S)

def parse_mod(mod):
    src = open(pb_file(mod)).read()
    out = {}
    for m in msg_re.finditer(src):
        name, body = m.group(1), m.group(2)
        fields = []
        for f in field_re.finditer(body):
            attrs, _, rname, ty = f.groups()
            tag = int(re.search(r'tag = "(\d+)"', attrs).group(1))
            fields.append((tag, rname, attrs.strip(), ' '.join(ty.split())))
        out[name] = fields
    return out

MODS = {
    'meta': ('apimachinery/pkg/apis/meta/v1', 'apimachinery/pkg/apis/meta/v1'),
    'core': ('api/core/v1', 'api/core/v1'),
    'apps': ('api/apps/v1', 'api/apps/v1'),
    'batch': ('api/batch/v1', 'api/batch/v1'),
    'policy': ('api/policy/v1', 'api/policy/v1'),
    'rbac': ('api/rbac/v1', 'api/rbac/v1'),
}
WANT = {
    'meta': ['ObjectMeta', 'LabelSelector', 'LabelSelectorRequirement', 'OwnerReference'],
    'core': ['Namespace', 'NamespaceSpec', 'ConfigMap', 'Secret', 'ServiceAccount', 'ObjectReference',
             'LocalObjectReference', 'PodTemplateSpec', 'PodSpec', 'Container', 'ContainerPort', 'EnvVar',
             'EnvVarSource', 'ConfigMapKeySelector', 'SecretKeySelector', 'ObjectFieldSelector',
             'ResourceFieldSelector', 'EnvFromSource', 'ConfigMapEnvSource', 'SecretEnvSource',
             'ResourceRequirements', 'ResourceClaim', 'VolumeMount', 'Toleration', 'Volume',
             'EmptyDirVolumeSource', 'ConfigMapVolumeSource', 'SecretVolumeSource', 'KeyToPath',
             'HostPathVolumeSource', 'PersistentVolumeClaimVolumeSource', 'VolumeSource', 'SecurityContext',
             'PodSecurityContext', 'Capabilities', 'Probe', 'ProbeHandler', 'ExecAction', 'HttpGetAction',
             'HttpHeader', 'TcpSocketAction'],
    'apps': ['Deployment', 'DeploymentSpec', 'DeploymentStrategy', 'RollingUpdateDeployment'],
    'batch': ['Job', 'JobSpec', 'CronJob', 'CronJobSpec', 'JobTemplateSpec'],
    'policy': ['PodDisruptionBudget', 'PodDisruptionBudgetSpec'],
    'rbac': ['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding', 'PolicyRule', 'Subject', 'RoleRef',
             'AggregationRule'],
}
# Go pointer fields (set = present on the wire, zero values meaningful), by message and JSON name.
POINTERS = {
    'ObjectMeta': ['deletionGracePeriodSeconds', 'deletionTimestamp'],
    'OwnerReference': ['controller', 'blockOwnerDeletion'],
    'ConfigMap': ['immutable'], 'Secret': ['immutable'], 'ServiceAccount': ['automountServiceAccountToken'],
    'PodSpec': ['terminationGracePeriodSeconds', 'activeDeadlineSeconds', 'automountServiceAccountToken',
                'shareProcessNamespace', 'priority', 'enableServiceLinks', 'preemptionPolicy',
                'runtimeClassName', 'setHostnameAsFQDN', 'hostUsers', 'securityContext', 'affinity',
                'dnsConfig', 'os', 'resources'],
    'Container': ['restartPolicy', 'securityContext', 'livenessProbe', 'readinessProbe', 'startupProbe',
                  'lifecycle'],
    'EnvVar': ['valueFrom'],
    'EnvVarSource': ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef', 'fileKeyRef'],
    'EnvFromSource': ['configMapRef', 'secretRef'],
    'SecurityContext': ['capabilities', 'privileged', 'seLinuxOptions', 'windowsOptions', 'runAsUser',
                        'runAsGroup', 'runAsNonRoot', 'readOnlyRootFilesystem', 'allowPrivilegeEscalation',
                        'procMount', 'seccompProfile', 'appArmorProfile'],
    'PodSecurityContext': ['seLinuxOptions', 'windowsOptions', 'runAsUser', 'runAsGroup', 'runAsNonRoot',
                           'fsGroup', 'fsGroupChangePolicy', 'seccompProfile', 'appArmorProfile',
                           'supplementalGroupsPolicy', 'seLinuxChangePolicy'],
    'ConfigMapKeySelector': ['optional'], 'SecretKeySelector': ['optional'],
    'ConfigMapEnvSource': ['optional'], 'SecretEnvSource': ['optional'],
    'ConfigMapVolumeSource': ['defaultMode', 'optional'], 'SecretVolumeSource': ['defaultMode', 'optional'],
    'KeyToPath': ['mode'], 'HostPathVolumeSource': ['type'],
    'EmptyDirVolumeSource': ['sizeLimit'],
    'Toleration': ['tolerationSeconds'],
    'Probe': ['terminationGracePeriodSeconds'],
    'ProbeHandler': ['exec', 'httpGet', 'tcpSocket', 'grpc'],
    'VolumeSource': ['hostPath', 'emptyDir', 'gcePersistentDisk', 'awsElasticBlockStore', 'gitRepo', 'secret',
                     'nfs', 'iscsi', 'glusterfs', 'persistentVolumeClaim', 'rbd', 'flexVolume', 'cinder', 'cephfs',
                     'flocker', 'downwardAPI', 'fc', 'azureFile', 'configMap', 'vsphereVolume', 'quobyte',
                     'azureDisk', 'photonPersistentDisk', 'projected', 'portworxVolume', 'scaleIO', 'storageos',
                     'csi', 'ephemeral', 'image'],
    'DeploymentSpec': ['replicas', 'revisionHistoryLimit', 'progressDeadlineSeconds', 'selector'],
    'DeploymentStrategy': ['rollingUpdate'],
    'RollingUpdateDeployment': ['maxUnavailable', 'maxSurge'],
    'JobSpec': ['parallelism', 'completions', 'activeDeadlineSeconds', 'podFailurePolicy', 'successPolicy',
                'backoffLimit', 'backoffLimitPerIndex', 'maxFailedIndexes', 'selector', 'manualSelector',
                'ttlSecondsAfterFinished', 'completionMode', 'suspend', 'podReplacementPolicy', 'managedBy'],
    'CronJobSpec': ['timeZone', 'startingDeadlineSeconds', 'suspend', 'successfulJobsHistoryLimit',
                    'failedJobsHistoryLimit'],
    'PodDisruptionBudgetSpec': ['minAvailable', 'selector', 'maxUnavailable', 'unhealthyPodEvictionPolicy'],
    'ClusterRole': ['aggregationRule'],
    'ResourceRequirements': [],
}
OA_PARENT = {'VolumeSource': 'Volume', 'ProbeHandler': 'Probe'}
INLINE = {('Volume', 'volume_source'): 'VolumeSource', ('Probe', 'handler'): 'ProbeHandler'}
IGNORE = {('Deployment', 'status'), ('Job', 'status'), ('CronJob', 'status'), ('PodDisruptionBudget', 'status'),
          ('Namespace', 'status'), ('ObjectMeta', 'managedFields')}

def build():
    types = {}
    owner = {}
    for short, (pbmod, oamod) in MODS.items():
        parsed = parse_mod(pbmod)
        for name in WANT[short]:
            if name not in parsed:
                raise SystemExit(f"k8s-pb has no {name} in {pbmod}")
            oa = OA_PARENT.get(name, name)
            types[name] = (short, parsed[name], oa_names(oamod, oa))
    return types

def rust_ty(msg, rname, attrs, ty, types, json):
    rep = 'repeated' in attrs
    kind = attrs.split(',')[0].strip()
    if (msg, json) in IGNORE:
        return 'Ty::Ignore', False
    if kind.startswith('btree_map'):
        kv = re.search(r'btree_map = "([^"]+)"', attrs).group(1)
        if kv == 'string, string': return 'Ty::MapStrStr', False
        if kv == 'string, bytes': return 'Ty::MapStrBytes', False
        if kv == 'string, message':
            # The only message-valued maps of these types are ResourceLists (map[string]Quantity).
            return 'Ty::MapStrQuantity', False
        return f'Ty::Unsupported', False
    if kind == 'string': return 'Ty::Str', rep
    if kind in ('int32', 'int64'): return 'Ty::Int', rep
    if kind == 'bool': return 'Ty::Bool', rep
    if kind == 'message':
        last = ty.replace('>', ' ').replace('<', ' ').split()[-1].split('::')[-1]
        if last in ('Time',): return 'Ty::Time', rep
        if last == 'IntOrString': return 'Ty::IntOrString', rep
        if last == 'Quantity': return 'Ty::Quantity', rep
        if last in types: return f'Ty::Msg(&{const_name(last)})', rep
        return 'Ty::Unsupported', rep
    raise SystemExit(f"unknown prost kind {attrs} in {msg}.{rname}")

def const_name(n):
    return re.sub(r'(?<!^)(?=[A-Z])', '_', n).upper().replace('H_T_T_P', 'HTTP').replace('T_C_P', 'TCP')

def gen():
    types = build()
    out = []
    for name, (short, fields, names) in types.items():
        rows = []
        for tag, rname, attrs, ty in fields:
            if (name, rname) in INLINE:
                rows.append(f'    f({tag}, "", Ty::Inline(&{const_name(INLINE[(name, rname)])}), false, false),')
                continue
            json = names.get(rname) or names.get(rname + "_")
            if json is None:
                norm = {k.replace('_', ''): v for k, v in names.items()}
                json = norm.get(rname.replace('_', ''))
            camel = ''.join(p.capitalize() for p in rname.split('_'))
            if json is None and camel in types:
                rows.append(f'    f({tag}, "", Ty::Inline(&{const_name(camel)}), false, false),')
                continue
            if json is None:
                raise SystemExit(f"no JSON name for {name}.{rname} (k8s-openapi 1.33)")
            t, rep = rust_ty(name, rname, attrs, ty, types, json)
            ptr = json in POINTERS.get(name, [])
            rows.append(f'    f({tag}, "{json}", {t}, {"true" if rep else "false"}, {"true" if ptr else "false"}),')
        out.append(f'/// {short} {name}\npub(super) static {const_name(name)}: Desc = Desc {{\n    name: "{name}",\n    fields: &[\n' + '\n'.join(rows) + '\n    ],\n};\n')
    # check POINTERS names exist
    for msg, ps in POINTERS.items():
        if msg not in types: continue
        jsons = set(types[msg][2].values())
        for p in ps:
            if p not in jsons: raise SystemExit(f"pointer {msg}.{p} is not a field")
    return '\n'.join(out)

HEADER = '''//! Protobuf field tables of the kinds kubesim decodes (generated by tools/gen_proto_types.py;
//! do not edit by hand): field numbers from the Kubernetes `generated.proto` files as the k8s-pb
//! 0.9.0 crate carries them, JSON names as k8s-openapi 0.29 (v1_35) serialises them, and which
//! fields are Go pointers (a zero value on the wire is then meaningful).

use super::{Desc, Ty, f};
'''

if __name__ == '__main__':
    print(HEADER)
    print(gen())
