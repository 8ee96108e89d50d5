# One MongoDB for a team's pipelines: its own network, daily snapshots kept two weeks.
resource "nami_mongodb_store" "main" {
  name                    = "main"
  instance_type           = "t3.medium"
  volume_size             = 50
  snapshot_retention_days = 14

  tags = {
    team = "platform"
  }
}
