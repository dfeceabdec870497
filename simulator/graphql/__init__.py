"""NewStore's GraphQL API over the platform's documents (schema first: openapi/newstore.graphql)."""

from simulator.graphql.executor import GraphQLService, service_for, wants_timezone

__all__ = ["GraphQLService", "service_for", "wants_timezone"]
