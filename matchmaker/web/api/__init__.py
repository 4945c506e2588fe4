"""The local REST API for hospital scripts (/api/v1/): token authentication, serializers, views."""
