/**
 * The one error the Neutron compilers raise for bad input: the description
 * file, the item (a port, a rule, a subnet) and what is wrong with it.
 */
import { FlowplaneError } from "../errors.js";

export class NeutronInputError extends FlowplaneError {
  constructor(message: string) {
    super("FP_ERR_NEUTRON_INPUT", message);
    this.name = "NeutronInputError";
  }
}
