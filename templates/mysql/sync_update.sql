SET NEW.{{ new }} = IF(NEW.{{ old }} <=> OLD.{{ old }}, NEW.{{ new }}, NEW.{{ old }}), NEW.{{ old }} = IF(NEW.{{ new }} <=> OLD.{{ new }}, NEW.{{ old }}, NEW.{{ new }})
