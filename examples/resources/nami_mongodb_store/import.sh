# A store is imported by its name.
terraform import nami_mongodb_store.main main
