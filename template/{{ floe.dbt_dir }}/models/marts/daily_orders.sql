-- Incremental: the first run builds the table; each later run adds only the days after the
-- newest one it holds (`is_incremental()`), so it reads only new orders. No unique_key: each
-- adapter's default strategy (append, or merge that only inserts) fits every target.
-- `dbt build --full-refresh` rebuilds it from scratch.
{{ config(materialized='incremental') }}

select
    order_date,
    count(*) as number_of_orders,
    sum(amount) as amount
from {{ ref('orders') }}
{% if is_incremental() %}
where order_date > (select max(order_date) from {{ this }})
{% endif %}
group by order_date
