-- Reads the `shop.raw_orders` source. The comment below orders the seed that loads it first in
-- `dbt build` (dbt knows of no link between a seed and a source over the same table):
-- depends_on: {{ ref('raw_orders') }}
select
    id as order_id,
    customer_id,
    cast(order_date as date) as order_date,
    status
from {{ source('shop', 'raw_orders') }}
