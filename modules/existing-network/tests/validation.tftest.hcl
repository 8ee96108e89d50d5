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
  sources = {
    github = { scheme = "github", secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/x" }
  }
}

run "no_private_subnets_is_refused" {
  command = plan
  variables {
    private_subnet_ids = []
  }
  expect_failures = [var.private_subnet_ids]
}

run "a_subnet_named_twice_is_refused" {
  command = plan
  variables {
    private_subnet_ids = ["subnet-0a1b2c3d", "subnet-0a1b2c3d"]
  }
  expect_failures = [var.private_subnet_ids]
}

run "something_that_is_not_a_vpc_id_is_refused" {
  command = plan
  variables {
    vpc_id = "my-vpc"
  }
  expect_failures = [var.vpc_id]
}
