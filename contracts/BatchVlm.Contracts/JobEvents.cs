// Job-level events the coordinator publishes (past tense). Nothing in the fleet needs them to be correct; they let
// dashboards, `watch` or another service follow jobs without polling PostgreSQL.
namespace BatchVlm.Contracts;

/// <summary>A job reached a terminal state: "completed", "failed" or "cancelled".</summary>
public sealed record JobFinished(Guid JobId, string State, long Total, long Succeeded, long Failed);
