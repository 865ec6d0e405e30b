"""Functions of the infrastructure itself, outside the registry: they serve AWS services
(AWS Backup's restore testing), not the API or its jobs. Each folder is a deployment asset."""
