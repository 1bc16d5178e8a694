select
    orders.order_id,
    orders.customer_id,
    orders.order_date,
    orders.status,
    coalesce(payments.amount, 0) as amount
from {{ ref('stg_orders') }} as orders
left join {{ ref('int_order_payments') }} as payments using (order_id)
