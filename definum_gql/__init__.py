"""definum-gql: learner statistics from a Moodle database, over GraphQL and Moodle's REST API."""

__version__ = "0.1.0"
