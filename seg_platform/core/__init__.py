"""The ground floor: helpers no asset group owns (calendar, warehouse, settings, UI metadata,
identifier normalisation, MLflow registry); it imports nothing from the groups."""
