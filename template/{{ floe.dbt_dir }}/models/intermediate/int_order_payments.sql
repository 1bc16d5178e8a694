-- Ephemeral: inlined into the models that use it, never materialized, so it is not an asset;
-- its inputs become the inputs of the models downstream of it.
{{ config(materialized='ephemeral') }}

select
    order_id,
    sum(amount) as amount
from {{ ref('stg_payments') }}
group by order_id
