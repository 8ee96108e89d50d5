# A pipeline on the local emulator (moto): `make emulators`, then
#   tools/terraform -chdir=examples/basic init
#   tools/terraform -chdir=examples/basic apply -var endpoint=$AWS_ENDPOINT_URL
terraform {
  required_providers {
    nami = {
      source = "nami-serverless/nami"
    }
  }
}

variable "endpoint" {
  description = "The emulator's URL, e.g. http://127.0.0.1:5000 (see target/emulators/env)."
  type        = string
}

variable "mongodb_uri" {
  description = "The store the post-queue function writes to."
  type        = string
  default     = "mongodb://127.0.0.1:27017/?directConnection=true"
  sensitive   = true
}

provider "nami" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true

  endpoints {
    apigateway     = var.endpoint
    ec2            = var.endpoint
    iam            = var.endpoint
    lambda         = var.endpoint
    sqs            = var.endpoint
    sts            = var.endpoint
    ssm            = var.endpoint
    secretsmanager = var.endpoint
    dynamodb       = var.endpoint
    logs           = var.endpoint
    cloudwatch     = var.endpoint
  }
}

resource "nami_webhook_pipeline" "github" {
  name = "github-events"

  signature {
    scheme = "github"
    secret = "local-demo-secret"
  }

  post_queue {
    batch_size      = 10
    max_concurrency = 2
  }

  store {
    mongodb_uri = var.mongodb_uri
  }
}

output "endpoint_url" {
  value = nami_webhook_pipeline.github.endpoint_url
}

output "queue_url" {
  value = nami_webhook_pipeline.github.queue_url
}
output "pipeline_name" {
  value = nami_webhook_pipeline.github.name
}
