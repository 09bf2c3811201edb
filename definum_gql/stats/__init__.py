"""Learner statistics: pure, batch-first functions shared by GraphQL and the REST shim."""
