from __future__ import annotations

from django.db import models


class SourceKind(models.TextChoices):
    AWS = "aws", "AWS"
    KUBERNETES = "kubernetes", "Kubernetes"


class RunState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Partial (some regions or namespaces failed)"
    FAILED = "failed", "Failed"
    REFUSED = "refused", "Refused (another run was running)"


FINISHED_STATES = (RunState.SUCCEEDED, RunState.PARTIAL, RunState.FAILED, RunState.REFUSED)


class ObjectKind(models.TextChoices):
    """What a discovered row stands for at its source."""

    ASG = "asg", "Auto Scaling group"
    EC2 = "ec2", "EC2 instance outside any group"
    LAMBDA = "lambda", "Lambda function"
    ECS = "ecs", "ECS service"
    RDS = "rds", "RDS instance"
    ELASTICACHE = "elasticache", "ElastiCache replication group"
    DYNAMODB = "dynamodb", "DynamoDB table"
    DEPLOYMENT = "deployment", "Kubernetes Deployment"
    STATEFULSET = "statefulset", "Kubernetes StatefulSet"
    DAEMONSET = "daemonset", "Kubernetes DaemonSet"
    CRONJOB = "cronjob", "Kubernetes CronJob"
    INSTANCE = "instance", "Instance"
