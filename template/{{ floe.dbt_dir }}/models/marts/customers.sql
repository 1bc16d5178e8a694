select
    customers.customer_id,
    customers.first_name,
    customers.last_name,
    customers.email,
    count(orders.order_id) as number_of_orders,
    coalesce(sum(orders.amount), 0) as lifetime_value
from {{ ref('stg_customers') }} as customers
left join {{ ref('orders') }} as orders using (customer_id)
group by 1, 2, 3, 4
