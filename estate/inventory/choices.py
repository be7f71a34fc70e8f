from __future__ import annotations

from django.db import models


class Mode(models.TextChoices):
    IMMUTABLE = "immutable", "Immutable"
    BASTION = "bastion", "Bastion"


class Category(models.TextChoices):
    SERVICE = "service", "Service"
    WORKER = "worker", "Worker"
    FUNCTION = "function", "Serverless function"
    CONTAINER = "container", "Container"
    DATABASE = "database", "Database"
    CACHE = "cache", "Cache"
    QUEUE = "queue", "Queue"
    OBJECT_STORE = "object_store", "Object store"
    FILE_STORE = "file_store", "File store"


# Categories whose whole purpose is to keep data: they always hold state (principle 3).
STATEFUL_CATEGORIES = (
    Category.DATABASE,
    Category.CACHE,
    Category.QUEUE,
    Category.OBJECT_STORE,
    Category.FILE_STORE,
)


class Provider(models.TextChoices):
    SANDBOX = "sandbox", "Sandbox (demo)"
    WEBHOOK = "webhook", "Webhook (CI/CD)"
    AWS = "aws", "AWS"
    KUBERNETES = "kubernetes", "Kubernetes"


class Engine(models.TextChoices):
    POSTGRESQL = "postgresql", "PostgreSQL"
    MYSQL = "mysql", "MySQL"
    REDIS = "redis", "Redis"
    MEMCACHED = "memcached", "Memcached"
    RABBITMQ = "rabbitmq", "RabbitMQ"
    KAFKA = "kafka", "Kafka"
    ELASTICSEARCH = "elasticsearch", "Elasticsearch"
    MINIO = "minio", "MinIO / S3"
    NFS = "nfs", "NFS"
    OTHER = "other", "Other"


class ClusterRole(models.TextChoices):
    PRIMARY = "primary", "Primary"
    REPLICA = "replica", "Replica"
    STANDALONE = "standalone", "Standalone"
    ARBITER = "arbiter", "Arbiter"


class InstanceState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    TERMINATING = "terminating", "Terminating"
    TERMINATED = "terminated", "Terminated"


LIVE_INSTANCE_STATES = (InstanceState.PENDING, InstanceState.RUNNING)


class Health(models.TextChoices):
    """Written by telemetry's evaluation (and by patching during a window); read by every page."""

    HEALTHY = "healthy", "Healthy"
    DEGRADED = "degraded", "Degraded"
    DOWN = "down", "Down"
    UNKNOWN = "unknown", "Unknown"
    MAINTENANCE = "maintenance", "Maintenance"
