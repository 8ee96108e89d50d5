terraform {
  # `terraform test` with mock-free runs and validation that refers to other variables.
  required_version = ">= 1.9"

  required_providers {
    nami = {
      source = "nami-serverless/nami"
    }
  }
}
