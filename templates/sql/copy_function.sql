CREATE OR REPLACE FUNCTION {{ function }}() RETURNS trigger LANGUAGE plpgsql AS {{ tag }}
BEGIN
  -- Every write to {{ source }} is copied, converted, into {{ target }}.
  NEW.{{ target }} := (SELECT {{ expr }} FROM (SELECT NEW.*) AS safeshift_row);
  RETURN NEW;
END
{{ tag }}
