"""Create a synthesized stack's runtime resources in moto, straight from the CloudFormation template.

Local mode runs the template CDK synthesized, not a second description of the stack: buckets, topics,
KMS keys, IAM roles, Lambda functions and the state machine are created in moto with the template's
own properties, and intrinsic functions (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split)
are resolved against the physical names given here. Resource types that do nothing offline (log
groups, policies, EventBridge rules, alarms…) are skipped on purpose, and so are custom resources with
their handler functions: the job-code BucketDeployment's upload is done by local mode itself.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"
LAMBDA_TASK_ROOT = "/var/task/"


class TemplateError(ValueError):
    """The synthesized template holds something local mode cannot resolve; the message names it."""


@dataclass
class Physical:
    ref: str
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class LocalStack:
    """What local mode needs to know about the stack it created in moto."""

    name: str
    resources: dict[str, Physical]
    functions: dict[str, dict[str, Any]]  # function name -> resolved properties (+ "AssetDir")
    state_machine_arn: str
    buckets: list[str]
    # The synthesized template and the resolver over what was created (local IAM reads the policies).
    template: dict[str, Any] = field(default_factory=dict)
    resolver: Resolver | None = None

    def function_env(self) -> dict[str, str]:
        """The handlers' shared environment (DATA_BUCKET, ARTIFACTS_BUCKET, TOPIC_ARN…), from any handler."""
        for props in self.functions.values():
            variables = props.get("Environment", {}).get("Variables", {})
            if "ARTIFACTS_BUCKET" in variables:
                return dict(variables)
        raise TemplateError("no Lambda function in the template has an ARTIFACTS_BUCKET environment variable")


def load_template(outdir: Path) -> tuple[str, dict[str, Any]]:
    """The (stack name, template) of the one stack in a cdk.out directory."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = [
        (name, art)
        for name, art in manifest["artifacts"].items()
        if art["type"] == "aws:cloudformation:stack"
    ]
    if len(stacks) != 1:
        raise TemplateError(f"expected one stack in {outdir}, found {[name for name, _ in stacks]}")
    name, artifact = stacks[0]
    template_file = artifact["properties"]["templateFile"]
    return artifact.get("properties", {}).get("stackName", name), json.loads(
        (outdir / template_file).read_text()
    )


class Resolver:
    """Resolves intrinsic functions against physical resources and pseudo parameters."""

    def __init__(self, stack_name: str, region: str, resources: dict[str, Physical]):
        self.resources = resources
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{stack_name}/local",
            "AWS::NoValue": None,
        }

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._getatt(logical, attr)
            if key == "Fn::Join":
                return self(arg[0]).join(str(self(part)) for part in self(arg[1]))
            if key == "Fn::Select":
                return self(arg[1])[int(self(arg[0]))]
            if key == "Fn::Split":
                return self(arg[1]).split(arg[0])
            if key == "Fn::Sub":
                return self._sub(arg)
            if key.startswith("Fn::"):
                raise TemplateError(f"intrinsic function {key} is not supported in local mode")
        return {k: self(v) for k, v in value.items()}

    def _ref(self, name: str) -> str | None:
        if name in self.pseudo:
            return self.pseudo[name]
        if name not in self.resources:
            raise TemplateError(f"Ref to {name!r}, which local mode did not create")
        return self.resources[name].ref

    def _getatt(self, logical: str, attr: str) -> str:
        physical = self.resources.get(logical)
        if physical is None or attr not in physical.attrs:
            raise TemplateError(f"Fn::GetAtt {logical}.{attr} cannot be resolved in local mode")
        return physical.attrs[attr]

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self(arg[1]))

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and name not in self.pseudo:
                return str(self._getatt(*name.split(".", 1)))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


def function_arn(name: str, region: str) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"


def _bucket_name(stack: str, logical: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", f"{stack}-{logical}".lower())[:63].strip("-")


def _zip_dir(path: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(path.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                archive.write(file, file.relative_to(path).as_posix())
    return buffer.getvalue()


def _file_assets(outdir: Path) -> dict[str, str]:
    """Object key (``<hash>.zip``) -> asset directory, from the cloud assembly's asset manifests."""
    keys = {}
    for manifest in outdir.glob("*.assets.json"):
        for asset_hash, asset in json.loads(manifest.read_text()).get("files", {}).items():
            for destination in asset.get("destinations", {}).values():
                keys[destination["objectKey"]] = asset["source"]["path"]
            keys.setdefault(f"{asset_hash}.zip", asset["source"]["path"])
    return keys


def _asset_dir(outdir: Path, resource: dict[str, Any], assets: dict[str, str]) -> Path | None:
    """Where a function's code asset sits in cdk.out (asset metadata if present, else the asset manifest)."""
    path = resource.get("Metadata", {}).get("aws:asset:path")
    key = resource.get("Properties", {}).get("Code", {}).get("S3Key")
    if not path and isinstance(key, str):
        path = assets.get(key)
    return (outdir / path).resolve() if path else None


def create_in_moto(session: Any, outdir: Path, region: str = "us-east-1") -> LocalStack:
    """Create the stack's buckets, keys, topics, roles, functions and state machine in moto."""
    stack_name, template = load_template(outdir)
    resources: dict[str, dict[str, Any]] = template.get("Resources", {})
    physical: dict[str, Physical] = {}
    resolve = Resolver(stack_name, region, physical)
    by_type: dict[str, list[str]] = {}
    for logical, resource in resources.items():
        by_type.setdefault(resource["Type"], []).append(logical)

    kms = session.client("kms", region_name=region)
    for logical in by_type.get("AWS::KMS::Key", []):
        key = kms.create_key(Description=f"{stack_name} {logical}")["KeyMetadata"]
        physical[logical] = Physical(key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]})

    s3 = session.client("s3", region_name=region)
    buckets = []
    for logical in by_type.get("AWS::S3::Bucket", []):
        props = resources[logical].get("Properties", {})
        name = resolve(props.get("BucketName")) or _bucket_name(stack_name, logical)
        s3.create_bucket(Bucket=name)
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        physical[logical] = Physical(
            name,
            {
                "Arn": f"arn:aws:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
            },
        )
        buckets.append(name)

    sns = session.client("sns", region_name=region)
    for logical in by_type.get("AWS::SNS::Topic", []):
        props = resources[logical].get("Properties", {})
        arn = sns.create_topic(Name=resolve(props.get("TopicName")) or f"{stack_name}-{logical}")["TopicArn"]
        physical[logical] = Physical(arn, {"TopicArn": arn, "TopicName": arn.rsplit(":", 1)[1]})

    iam = session.client("iam", region_name=region)
    for logical in by_type.get("AWS::IAM::Role", []):
        props = resources[logical].get("Properties", {})
        name = resolve(props.get("RoleName")) or f"{stack_name}-{logical}"[:64]
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(resolve(props.get("AssumeRolePolicyDocument", {}))),
        )["Role"]
        physical[logical] = Physical(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})

    cloudwatch = session.client("cloudwatch", region_name=region)
    for logical in by_type.get("AWS::CloudWatch::Alarm", []):
        props = resolve(resources[logical].get("Properties", {}))
        name = props.get("AlarmName") or f"{stack_name}-{logical}"
        cloudwatch.put_metric_alarm(
            AlarmName=name, MetricName=props["MetricName"], Namespace=props["Namespace"],
            Statistic=props.get("Statistic", "Average"), Period=int(props.get("Period", 60)),
            EvaluationPeriods=int(props["EvaluationPeriods"]), Threshold=float(props["Threshold"]),
            ComparisonOperator=props["ComparisonOperator"],
            Dimensions=props.get("Dimensions") or [],
            TreatMissingData=props.get("TreatMissingData", "missing"),
        )
        physical[logical] = Physical(name, {"Arn": f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{name}"})

    sagemaker = session.client("sagemaker", region_name=region)
    for logical in by_type.get("AWS::SageMaker::ModelPackageGroup", []):  # the registry (moto keeps it)
        props = resolve(resources[logical].get("Properties", {}))
        arn = sagemaker.create_model_package_group(
            ModelPackageGroupName=props["ModelPackageGroupName"],
            ModelPackageGroupDescription=props.get("ModelPackageGroupDescription", ""),
        )["ModelPackageGroupArn"]
        physical[logical] = Physical(arn, {"ModelPackageGroupArn": arn})

    functions = _create_functions(session, outdir, resources, by_type, physical, resolve, stack_name, region)

    sfn = session.client("stepfunctions", region_name=region)
    machines = by_type.get("AWS::StepFunctions::StateMachine", [])
    if len(machines) != 1:
        raise TemplateError(f"expected one state machine in the template, found {machines}")
    wanted = ("StateMachineName", "DefinitionString", "Definition", "DefinitionSubstitutions", "RoleArn")
    props = resolve({k: v for k, v in resources[machines[0]]["Properties"].items() if k in wanted})
    definition = props.get("DefinitionString") or json.dumps(props["Definition"])
    for key, value in (props.get("DefinitionSubstitutions") or {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    machine_arn = sfn.create_state_machine(
        name=props.get("StateMachineName") or f"{stack_name}-pipeline",
        definition=definition,
        roleArn=props["RoleArn"],
    )["stateMachineArn"]
    physical[machines[0]] = Physical(machine_arn, {"Arn": machine_arn, "Name": machine_arn.rsplit(":", 1)[1]})
    return LocalStack(stack_name, physical, functions, machine_arn, buckets, template, resolve)


def _bucket_deployment_functions(resources: dict[str, Any], by_type: dict[str, list[str]]) -> set[str]:
    """The functions behind Custom::CDKBucketDeployment resources (custom resources are not run here)."""
    handlers = set()
    for logical in by_type.get("Custom::CDKBucketDeployment", []):
        token = resources[logical].get("Properties", {}).get("ServiceToken", {})
        if isinstance(token, dict) and "Fn::GetAtt" in token:
            target = token["Fn::GetAtt"]
            handlers.add(target[0] if isinstance(target, list) else target.split(".", 1)[0])
    return handlers


def _create_functions(
    session: Any,
    outdir: Path,
    resources: dict[str, Any],
    by_type: dict[str, list[str]],
    physical: dict[str, Physical],
    resolve: Resolver,
    stack_name: str,
    region: str,
) -> dict[str, dict[str, Any]]:
    """Two passes: every function's name/ARN is known before any environment is resolved."""
    lambda_client = session.client("lambda", region_name=region)
    logicals = by_type.get("AWS::Lambda::Function", [])
    for logical in logicals:
        props = resources[logical].get("Properties", {})
        name = resolve(props.get("FunctionName")) or f"{stack_name}-{logical}"[:64]
        physical[logical] = Physical(name, {"Arn": function_arn(name, region)})
    zips: dict[Path, bytes] = {}
    functions = {}
    assets = _file_assets(outdir)
    skipped = _bucket_deployment_functions(resources, by_type)
    for logical in logicals:
        resource = resources[logical]
        if logical in skipped:
            continue  # local mode uploads the code channel itself (forge.local.runner)
        asset_dir = _asset_dir(outdir, resource, assets)
        if asset_dir is None:
            continue  # inline/custom-resource functions (e.g. CDK's providers) are not part of the pipeline
        # Only what a function needs here (logging/tracing settings point at resources not created).
        wanted = ("FunctionName", "Handler", "Runtime", "Role", "Environment", "Timeout", "MemorySize")
        props = resolve({k: v for k, v in resource["Properties"].items() if k in wanted})
        variables = props.get("Environment", {}).get("Variables", {})
        for key, value in variables.items():  # Lambda unpacks the code in /var/task; here it is the asset dir
            if isinstance(value, str) and value.startswith(LAMBDA_TASK_ROOT):
                variables[key] = str(asset_dir / value[len(LAMBDA_TASK_ROOT) :])
        name = physical[logical].ref
        zips.setdefault(asset_dir, _zip_dir(asset_dir))
        lambda_client.create_function(
            FunctionName=name,
            Runtime=props.get("Runtime", "python3.12"),
            Role=props["Role"],
            Handler=props["Handler"],
            Code={"ZipFile": zips[asset_dir]},
            Environment={"Variables": props.get("Environment", {}).get("Variables", {})},
            Timeout=int(props.get("Timeout", 3)),
            MemorySize=int(props.get("MemorySize", 128)),
        )
        functions[name] = {**props, "AssetDir": str(asset_dir)}
    return functions
