"""All panel models, split by area. Importing this package registers every table."""
from app.models.audit import AuditEvent
from app.models.aws import Instance, LoadBalancer, LoadBalancerMember, MaintenanceEvent
from app.models.base import Base, utcnow
from app.models.databases import Backup, BackupPolicy, Database, ScheduledBackupClaim
from app.models.dns import DnsRecord, DnsZone
from app.models.monit_versions import MonitVersion
from app.models.monitoring import InternalTool, MonitorWatchOverride
from app.models.operations import Alert, AlertDelivery, ChangeSet, ChangeSetItem, Operation, SyncRun
from app.models.sync import SyncRequest
from app.models.platform import App, Certificate, Cluster, Domain, LimitSet, Region
from app.models.users import ApiClient, User

__all__ = [
    "Alert", "AlertDelivery", "ApiClient", "App", "AuditEvent", "Backup", "BackupPolicy", "Base", "Certificate",
    "ChangeSet", "ChangeSetItem", "Cluster", "Database", "DnsRecord", "DnsZone", "Domain", "Instance",
    "InternalTool", "LimitSet", "LoadBalancer", "LoadBalancerMember", "MaintenanceEvent", "MonitorWatchOverride",
    "MonitVersion",
    "Operation", "Region", "ScheduledBackupClaim", "SyncRequest", "SyncRun", "User", "utcnow",
]
