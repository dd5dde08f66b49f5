-- The demo's table (make cdc-demo; docs/integrations.md): an ERP-like
-- products table, captured by deploy/debezium/products.properties.
CREATE TABLE IF NOT EXISTS products (
    id          serial PRIMARY KEY,
    sku         text NOT NULL,
    name        text NOT NULL,
    brand       text,
    description text,
    price       numeric(10, 2)
);
-- Updates carry the row before the change too: an update that changed no
-- text the model reads is skipped (UPDATE_POLICY=changed), and unchanged
-- long (TOASTed) columns arrive whole instead of as a placeholder.
ALTER TABLE products REPLICA IDENTITY FULL;
