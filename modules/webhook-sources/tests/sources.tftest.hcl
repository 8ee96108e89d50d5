# `terraform test` against the local emulators (make testmodules): the provider block points
# every service at moto; `endpoint` comes from the command line (-var endpoint=…).

variable "endpoint" {
  description = "The emulator's URL (moto), given by make testmodules."
  type        = string
}

provider "nami" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true

  endpoints {
    apigateway     = var.endpoint
    cloudwatch     = var.endpoint
    dynamodb       = var.endpoint
    ec2            = var.endpoint
    iam            = var.endpoint
    lambda         = var.endpoint
    logs           = var.endpoint
    secretsmanager = var.endpoint
    sqs            = var.endpoint
    ssm            = var.endpoint
    sts            = var.endpoint
  }
}

variables {
  name_prefix = "tft-"
  store = {
    mongodb_uri_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:team-store-AbCdEf"
  }
  sources = {
    github = {
      scheme     = "github"
      secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:github-hook-AbCdEf"
      batch      = { max_concurrency = 4 }
    }
    stripe = {
      scheme     = "stripe"
      secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/webhooks/stripe"
      collection = "payments"
      throttle   = { rate = 50, burst = 100 }
    }
  }
}

run "one_pipeline_per_source_writing_to_one_store" {
  assert {
    condition     = keys(output.endpoint_urls) == ["github", "stripe"]
    error_message = "one endpoint per source: ${jsonencode(output.endpoint_urls)}"
  }
  assert {
    condition     = output.pipeline_names == { github = "tft-github", stripe = "tft-stripe" }
    error_message = "pipelines are named <name_prefix><source>: ${jsonencode(output.pipeline_names)}"
  }
  assert {
    condition     = alltrue([for url in values(output.endpoint_urls) : endswith(url, "/prod/webhook")])
    error_message = "endpoints: ${jsonencode(output.endpoint_urls)}"
  }
  assert {
    condition     = nami_webhook_pipeline.source["github"].post_queue.max_concurrency == 4
    error_message = "the github source's throttle on the store"
  }
  assert {
    condition     = nami_webhook_pipeline.source["stripe"].api.throttle_rate == 50 && nami_webhook_pipeline.source["stripe"].api.throttle_burst == 100
    error_message = "the stripe source's API throttle"
  }
  assert {
    condition     = nami_webhook_pipeline.source["stripe"].post_queue.max_concurrency == 2
    error_message = "unset settings take the provider's defaults"
  }
  assert {
    condition     = nami_webhook_pipeline.source["github"].tags["nami:source"] == "github"
    error_message = "each pipeline is tagged with its source"
  }
}

# What AWS holds, read by the provider's own data sources.
run "read_back" {
  module {
    source = "../../tests/terraform/read-pipelines"
  }
  variables {
    names = ["tft-github", "tft-stripe"]
  }
  assert {
    condition     = output.stores == { "tft-github" = "webhooks/github", "tft-stripe" = "webhooks/payments" }
    error_message = "one database, a collection per source: ${jsonencode(output.stores)}"
  }
  assert {
    condition     = output.endpoint_urls["tft-github"] == run.one_pipeline_per_source_writing_to_one_store.endpoint_urls["github"]
    error_message = "the module's endpoint output is the pipeline's"
  }
}

run "a_source_added_and_one_changed" {
  variables {
    sources = {
      github = {
        scheme     = "github"
        secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:github-hook-AbCdEf"
        batch      = { max_concurrency = 8 }
      }
      stripe = {
        scheme     = "stripe"
        secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/webhooks/stripe"
        collection = "payments"
        throttle   = { rate = 50, burst = 100 }
      }
      partner = {
        scheme     = "hmac"
        secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:partner-AbCdEf"
        hmac       = { header = "X-Partner-Signature", prefix = "sha256=" }
      }
    }
  }
  assert {
    condition     = keys(output.endpoint_urls) == ["github", "partner", "stripe"]
    error_message = "the new source has its endpoint"
  }
  assert {
    condition     = nami_webhook_pipeline.source["github"].post_queue.max_concurrency == 8
    error_message = "the changed throttle is applied"
  }
  assert {
    condition     = nami_webhook_pipeline.source["github"].endpoint_url == run.one_pipeline_per_source_writing_to_one_store.endpoint_urls["github"]
    error_message = "a changed setting updates the pipeline in place (its endpoint stays)"
  }
  assert {
    condition     = nami_webhook_pipeline.source["partner"].signature.header == "X-Partner-Signature"
    error_message = "the hmac source's signature header"
  }
}

run "a_source_removed_goes_alone" {
  variables {
    sources = {
      github = {
        scheme     = "github"
        secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:github-hook-AbCdEf"
        batch      = { max_concurrency = 8 }
      }
    }
  }
  assert {
    condition     = keys(output.endpoint_urls) == ["github"]
    error_message = "only github is left"
  }
}

run "read_back_after_the_removal" {
  module {
    source = "../../tests/terraform/read-pipelines"
  }
  variables {
    names = ["tft-github"]
  }
  assert {
    condition     = [for name in output.listed : name if startswith(name, "tft-")] == ["tft-github"]
    error_message = "the removed sources' pipelines are gone from AWS: ${jsonencode(output.listed)}"
  }
}

# One managed store every source joins, each pipeline as its own database user in it.
run "a_managed_store_shared_by_every_source" {
  variables {
    store = { managed = { retain_volume = false } }
    sources = {
      github = {
        scheme     = "github"
        secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:github-hook-AbCdEf"
      }
      stripe = {
        scheme     = "stripe"
        secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/webhooks/stripe"
      }
    }
  }
  assert {
    condition     = output.store.id == "tft-sources" && startswith(output.store.instance_id, "i-")
    error_message = "one store for the team: ${jsonencode(output.store)}"
  }
  assert {
    condition     = alltrue([for pipeline in nami_webhook_pipeline.source : pipeline.store.shared == "tft-sources" && pipeline.instance_id == null])
    error_message = "every source joins it, none has an instance of its own"
  }
  assert {
    condition     = alltrue([for network in values(output.networks) : network.vpc_id == nami_mongodb_store.shared[0].vpc_id])
    error_message = "every function runs in the store's network: ${jsonencode(output.networks)}"
  }
}
