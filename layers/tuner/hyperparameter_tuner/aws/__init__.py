"""AWS adapters of the ports: DynamoDB trackers (``aws.dynamodb``) and S3 resource version control (``aws.s3``).

Modules here need the ``aws`` extra (boto3, Powertools); import them directly, so that the local engine never
imports boto3. Every adapter takes its boto3 client as a constructor argument.
"""
