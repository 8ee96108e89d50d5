# A pipeline is imported by its name.
terraform import nami_webhook_pipeline.stripe stripe-events
