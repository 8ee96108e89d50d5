# Bad input is refused at plan time, naming the variable, before anything is created.

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
  store = {
    mongodb_uri_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:team-store-AbCdEf"
  }
}

run "an_unverified_scheme_is_refused" {
  command = plan
  variables {
    sources = { open = { scheme = "none", secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/x" } }
  }
  expect_failures = [var.sources]
}

run "a_secret_that_is_not_an_arn_is_refused" {
  command = plan
  variables {
    sources = { github = { scheme = "github", secret_arn = "my-github-secret" } }
  }
  expect_failures = [var.sources]
}

run "an_hmac_source_needs_its_header" {
  command = plan
  variables {
    sources = { partner = { scheme = "hmac", secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/x" } }
  }
  expect_failures = [var.sources]
}

run "a_name_too_long_for_aws_is_refused" {
  command = plan
  variables {
    name_prefix = "a-rather-long-team-prefix-"
    sources     = { github-enterprise = { scheme = "github", secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/x" } }
  }
  expect_failures = [var.sources]
}

run "a_name_aws_cannot_hold_is_refused" {
  command = plan
  variables {
    sources = { "GitHub_Main" = { scheme = "github", secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/x" } }
  }
  expect_failures = [var.sources]
}

run "a_concurrency_lambda_refuses_is_refused" {
  command = plan
  variables {
    sources = { github = { scheme = "github", secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/x", batch = { max_concurrency = 1 } } }
  }
  expect_failures = [var.sources]
}

run "no_sources_is_refused" {
  command = plan
  variables {
    sources = {}
  }
  expect_failures = [var.sources]
}

run "a_store_secret_that_is_not_an_arn_is_refused" {
  command = plan
  variables {
    sources = { github = { scheme = "github", secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/x" } }
    store   = { mongodb_uri_secret_arn = "mongodb://user:pass@db:27017" }
  }
  expect_failures = [var.store]
}

run "a_bad_database_name_is_refused" {
  command = plan
  variables {
    sources = { github = { scheme = "github", secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/x" } }
    store   = { mongodb_uri_secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/uri", database = "web.hooks" }
  }
  expect_failures = [var.store]
}

run "a_store_needs_exactly_one_kind" {
  command = plan
  variables {
    sources = { github = { scheme = "github", secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/x" } }
    store = {
      mongodb_uri_secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/uri"
      managed                = {}
    }
  }
  expect_failures = [var.store]
}

run "a_managed_store_name_aws_cannot_hold_is_refused" {
  command = plan
  variables {
    sources = { github = { scheme = "github", secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/x" } }
    store   = { managed = { name = "Team_Store" } }
  }
  expect_failures = [var.store]
}

run "a_managed_store_on_a_system_database_is_refused" {
  command = plan
  variables {
    sources = { github = { scheme = "github", secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/x" } }
    store   = { managed = {}, database = "admin" }
  }
  expect_failures = [var.store]
}
