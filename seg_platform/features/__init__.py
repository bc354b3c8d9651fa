"""Customer features: the checks and catalog around the feature tables of dbt_like_sql/."""
