from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core import checks  # noqa: F401  (registers the system checks)
        from core.log_redaction import install_access_log_redaction, install_record_cleaning

        install_record_cleaning()
        install_access_log_redaction()
